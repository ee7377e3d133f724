import Foundation
import NIOCore
import RedisClient
#if canImport(Glibc)
import Glibc
#endif

/// A real `redis-server` for one test: its own free loopback port and temporary directory,
/// started daemonized (so it is nobody's zombie) and stopped by the PID it wrote.
public final class RedisServer: TestRedis {
    public let port: Int
    public let directory: URL
    /// More `redis-server` options (a cluster node's).
    private let options: [String]

    public var url: String { "redis://127.0.0.1:\(port)/0" }

    private init(port: Int, directory: URL, options: [String]) {
        self.port = port
        self.directory = directory
        self.options = options
    }

    /// Runs `body` with a fresh server, stopping it afterwards whatever happens.
    public static func with<T>(_ body: (RedisServer) async throws -> T) async throws -> T {
        let server = try await start()
        defer {
            server.stop()
            server.removeFiles()
        }
        return try await body(server)
    }

    /// Starts a server on a free port (trying a few, since another process may take a port
    /// between our probe and Redis binding it).
    /// - Parameter busPort: the server is a cluster node, which also listens on its port + 10,000.
    public static func start(options: [String] = [], busPort: Bool = false) async throws -> RedisServer {
        let directory = testScratchDirectory.appendingPathComponent("commerce-redis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var lastError: (any Error)?
        for _ in 0..<5 {
            let server = RedisServer(port: try busPort ? freePortWithBusPort() : freePort(), directory: directory, options: options)
            do {
                try await server.restart()
                return server
            } catch {
                lastError = error
                server.stop()
            }
        }
        throw lastError!
    }

    /// A client for this server with short timeouts, so failure tests stay fast.
    public func client(commandTimeout: TimeAmount = .milliseconds(500), poolSize: Int = 4, dataGuard: RedisDataGuard? = nil) -> any RedisClient {
        nodeClient(commandTimeout: commandTimeout, poolSize: poolSize, dataGuard: dataGuard)
    }

    /// A client of this one server (in a cluster too).
    public func nodeClient(commandTimeout: TimeAmount = .milliseconds(500), poolSize: Int = 4, dataGuard: RedisDataGuard? = nil) -> RedisNodeClient {
        RedisNodeClient(configuration: RedisConfiguration(
            host: "127.0.0.1", port: port, poolSize: poolSize, commandTimeout: commandTimeout), dataGuard: dataGuard)
    }

    /// Starts (again) on the same port and directory and waits until it answers PING.
    public func restart() async throws {
        let arguments = [
            Self.executable(),
            "--port", "\(port)", "--bind", "127.0.0.1", "--dir", directory.path,
            "--daemonize", "yes", "--pidfile", pidFile.path, "--logfile", "redis.log",
            "--save", "", "--appendonly", "no", "--enable-debug-command", "local",
        ] + options
        try Self.runToCompletion(arguments)
        let probe = nodeClient(commandTimeout: .milliseconds(200), poolSize: 1)
        defer { probe.shutdown() }
        for _ in 0..<100 {
            if (try? await probe.send("PING"))?.string == "PONG", pid != nil { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestSupportError("redis-server did not start on port \(port); see \(directory.path)/redis.log")
    }

    /// Stops the server by its PID (SIGKILL after 1 s) and waits until it has gone.
    public func stop() {
        guard let pid else { return }
        stopDaemon(pid, with: SIGTERM, killAfter: .seconds(1))
        try? FileManager.default.removeItem(at: pidFile)
    }

    /// Runs a program and waits for it (redis-server with --daemonize exits once it has forked).
    /// posix_spawn and waitpid rather than Foundation's Process, whose exit monitoring does not
    /// work from a test's concurrency threads.
    private static func runToCompletion(_ arguments: [String]) throws {
        let pid = try spawnProcess(arguments)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    }

    private var pidFile: URL { directory.appendingPathComponent("redis.pid") }

    private var pid: pid_t? {
        guard let text = try? String(contentsOf: pidFile, encoding: .utf8) else { return nil }
        return pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    public func removeFiles() {
        try? FileManager.default.removeItem(at: directory)
    }

    private static func executable() -> String {
        if let path = ProcessInfo.processInfo.environment["REDIS_SERVER"] { return path }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") + ["/usr/bin", "/usr/sbin"] {
            let candidate = "\(directory)/redis-server"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return "/usr/bin/redis-server"
    }
}

/// A free port whose cluster bus port (+10,000, so at most 55,535) is free too.
func freePortWithBusPort() throws -> Int {
    for _ in 0..<1_000 {
        let port = try freePort()
        if port <= 55_535, isFree(port + 10_000) { return port }
    }
    throw TestSupportError("could not find a free port with a free bus port")
}

/// True when nothing listens on `port` of 127.0.0.1 right now.
private func isFree(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}

/// A port the kernel considers free right now on 127.0.0.1.
public func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestSupportError("socket() failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Bool in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    guard bound else { throw TestSupportError("could not find a free port") }
    return Int(UInt16(bigEndian: address.sin_port))
}

public struct TestSupportError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
