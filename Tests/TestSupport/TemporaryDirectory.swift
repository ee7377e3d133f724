import Foundation

/// Where tests keep their files: `COMMERCE_TEST_TMPDIR` when set (scripts/test sets it, and after
/// the run stops whatever a crashed test left running there, by pidfile), else the system's.
public var testScratchDirectory: URL {
    if let path = ProcessInfo.processInfo.environment["COMMERCE_TEST_TMPDIR"], !path.isEmpty {
        return URL(fileURLWithPath: path)
    }
    return FileManager.default.temporaryDirectory
}

/// A fresh directory under ``testScratchDirectory``, removed after `body`.
public func withTemporaryDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
    let directory = testScratchDirectory.appendingPathComponent("commerce-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try await body(directory)
}
