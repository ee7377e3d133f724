import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// nginx balancing a free loopback port over local upstream ports, as `scripts/run --scale` runs
/// it: started through the project's own `start_nginx` (scripts/lib.sh: one configuration for
/// both), stopped by its PID.
public enum Nginx {
    /// True when Debian's nginx is installed (scripts/test installs it).
    public static let isInstalled = FileManager.default.isExecutableFile(atPath: "/usr/sbin/nginx")

    /// Runs `body` with the port nginx listens on, stopping nginx afterwards.
    public static func with<T>(upstreams: [Int], in directory: URL, _ body: (Int) async throws -> T) async throws -> T {
        let port = try freePort()
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let output = directory.appendingPathComponent("nginx-start.out")
        let script = "source scripts/lib.sh && start_nginx \(directory.appendingPathComponent("nginx").path) \(port) "
            + upstreams.map(String.init).joined(separator: " ") + " > \(output.path)"
        let starter = try ChildProcess.spawn(["/bin/bash", "-c", "cd \(root.path) && \(script)"], logFile: directory.appendingPathComponent("nginx-start.log"))
        guard await starter.waitForExit() == 0,
              let text = try? String(contentsOf: output, encoding: .utf8), let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
        else { throw TestSupportError("nginx did not start: \(starter.output)") }
        defer { stopDaemon(pid, with: SIGQUIT, killAfter: .seconds(2)) }
        return try await body(port)
    }
}
