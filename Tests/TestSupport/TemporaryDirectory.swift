import Foundation

/// Where tests keep their files: `COMMERCE_TEST_TMPDIR` when set (scripts/test sets it, and after
/// the run stops whatever a crashed test left running there, by pidfile), else `commerce-tests`
/// in the system's temporary directory.
public var testScratchDirectory: URL {
    if let path = ProcessInfo.processInfo.environment["COMMERCE_TEST_TMPDIR"], !path.isEmpty {
        return URL(fileURLWithPath: path)
    }
    // Never the system's temporary directory itself: the PostgreSQL tests change the scratch
    // directory's mode, and /tmp must stay world-writable (apt, for one, fails otherwise).
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("commerce-tests")
    try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory
}

/// A fresh directory under ``testScratchDirectory``, removed after `body`.
public func withTemporaryDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
    let directory = testScratchDirectory.appendingPathComponent("commerce-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try await body(directory)
}
