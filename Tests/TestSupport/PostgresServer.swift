import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A real PostgreSQL server for tests: `initdb` into its own folder under the scratch directory,
/// a free loopback port, started with `pg_ctl` and stopped by the PID in `postmaster.pid`. Run
/// as the `postgres` user when the tests run as root (PostgreSQL refuses root). Durability
/// settings are off (`fsync`): these servers hold test data, and the benchmark runs its own.
public final class PostgresServer: Sendable {
    public let port: Int
    public let directory: URL
    private let databases = Atomic<Int>(0)

    private init(port: Int, directory: URL) {
        self.port = port
        self.directory = directory
    }

    /// Whether PostgreSQL's programs are installed (scripts/test installs them).
    public static var isInstalled: Bool { binDirectory != nil }

    /// One server for the whole test process, started on first use; each test takes a fresh
    /// database of it (``freshDatabase()``). scripts/test stops it by its pidfile afterwards.
    public static func shared() async throws -> PostgresServer {
        try await SharedServer.instance.server()
    }

    /// Runs `body` with a server of its own (for tests that stop or kill it), stopped afterwards.
    public static func with<T>(_ body: (PostgresServer) async throws -> T) async throws -> T {
        let server = try await start()
        do {
            let result = try await body(server)
            server.stop()
            server.removeFiles()
            return result
        } catch {
            server.stop()
            server.removeFiles()
            throw error
        }
    }

    /// Creates the cluster and starts it on a free port.
    public static func start() async throws -> PostgresServer {
        guard let bin = binDirectory else { throw TestSupportError("PostgreSQL is not installed (scripts/test installs it)") }
        let directory = testScratchDirectory.appendingPathComponent("commerce-pg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // The postgres user must reach its folder: the scratch folder is traversable, not readable.
        chmod(testScratchDirectory.path, 0o711)
        try asPostgres(["/bin/chown", "postgres:postgres", directory.path], asRoot: true)
        try asPostgres(["\(bin)/initdb", "-D", directory.appendingPathComponent("data").path, "-U", "postgres",
                        "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"])
        let server = PostgresServer(port: try freePort(), directory: directory)
        try await server.restart()
        return server
    }

    /// `postgres://postgres@127.0.0.1:PORT/NAME`.
    public func url(database: String) -> String { "postgres://postgres@127.0.0.1:\(port)/\(database)" }

    /// A new empty database on this server; its name (``url(database:)`` makes its URL).
    public func freshDatabase() throws -> String {
        let name = "test_\(getpid())_\(databases.wrappingAdd(1, ordering: .relaxed).newValue)"
        try psql("CREATE DATABASE \(name)")
        return name
    }

    /// Runs SQL through `psql` on `database` (the test's own look at the tables).
    public func psql(_ sql: String, database: String = "postgres") throws {
        _ = try query(sql, database: database)
    }

    /// Starts `psql` running `sql` on `database` in the background (e.g. a transaction that
    /// stays open for a while); its output goes to `logFile`.
    public func psqlInBackground(_ sql: String, database: String, logFile: URL) throws -> ChildProcess {
        guard let bin = Self.binDirectory else { throw TestSupportError("PostgreSQL is not installed") }
        return try ChildProcess.spawn(["\(bin)/psql", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", "\(port)",
                                       "-U", "postgres", "-d", database, "-c", sql], logFile: logFile)
    }

    /// Runs SQL through `psql` on `database`; the first column of each row it returns, as text.
    public func query(_ sql: String, database: String) throws -> [String] {
        guard let bin = Self.binDirectory else { throw TestSupportError("PostgreSQL is not installed") }
        let output = try Self.run(["\(bin)/psql", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                                   "-p", "\(port)", "-U", "postgres", "-d", database, "-c", sql])
        return output.split(separator: "\n", omittingEmptySubsequences: false).dropLast(output.hasSuffix("\n") ? 1 : 0)
            .map { String($0.split(separator: "\t", omittingEmptySubsequences: false).first ?? "") }
    }

    /// Starts (again) on the same port and folder; waits until it accepts connections.
    public func restart() async throws {
        guard let bin = Self.binDirectory else { throw TestSupportError("PostgreSQL is not installed") }
        try Self.asPostgres([
            "\(bin)/pg_ctl", "-D", dataDirectory, "-l", directory.appendingPathComponent("postgres.log").path, "-w", "-s",
            "-o", "-p \(port) -k \(directory.path) -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
            "start",
        ])
        guard pid != nil else { throw TestSupportError("PostgreSQL did not start on port \(port); see \(directory.path)/postgres.log") }
    }

    /// Stops the server by its PID (fast shutdown: open connections are closed) and waits until
    /// it has gone; SIGKILL after 5 s.
    public func stop() {
        guard let pid else { return }
        stopDaemon(pid, with: SIGINT, killAfter: .seconds(5))
    }

    private var dataDirectory: String { directory.appendingPathComponent("data").path }

    /// The postmaster's PID, from the first line of its `postmaster.pid`.
    private var pid: pid_t? {
        guard let text = try? String(contentsOfFile: "\(dataDirectory)/postmaster.pid", encoding: .utf8),
              let first = text.split(separator: "\n").first else { return nil }
        return pid_t(first.trimmingCharacters(in: .whitespaces))
    }

    private func removeFiles() {
        try? FileManager.default.removeItem(at: directory)
    }

    /// The folder of `initdb`, `pg_ctl` and `psql`: `POSTGRES_BIN`, else Debian's newest.
    private static let binDirectory: String? = {
        if let path = ProcessInfo.processInfo.environment["POSTGRES_BIN"], !path.isEmpty { return path }
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        for version in versions.compactMap({ Int($0) }).sorted(by: >) {
            let directory = "/usr/lib/postgresql/\(version)/bin"
            if FileManager.default.isExecutableFile(atPath: "\(directory)/pg_ctl") { return directory }
        }
        return nil
    }()

    /// Runs a program as the `postgres` user when we are root (`asRoot`: as we are), and waits.
    private static func asPostgres(_ arguments: [String], asRoot: Bool = false) throws {
        try run(getuid() == 0 && !asRoot ? ["/usr/sbin/runuser", "-u", "postgres", "--"] + arguments : arguments)
    }

    /// Runs a program, waits for it, and returns what it printed (stdout and stderr).
    @discardableResult
    private static func run(_ arguments: [String]) throws -> String {
        let log = testScratchDirectory.appendingPathComponent("postgres-command-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: log) }
        let pid = try spawnProcess(arguments, output: log)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        guard status == 0 else {
            throw TestSupportError("\(arguments.joined(separator: " ")) failed (\(status)): \(output)")
        }
        return output
    }
}

/// The process's one shared server, started once: the first caller starts it in a task that
/// every caller (the first included) awaits, so concurrent first calls start one server. It is
/// stopped when the test process exits (and by scripts/test's sweep if the process dies).
private actor SharedServer {
    static let instance = SharedServer()
    private var started: Task<PostgresServer, any Error>?

    func server() async throws -> PostgresServer {
        if let started { return try await started.value }
        let task = Task {
            let server = try await PostgresServer.start()
            serverToStopAtExit.withLock { $0 = server }
            atexit { serverToStopAtExit.withLock { $0?.stop() } }
            return server
        }
        started = task
        return try await task.value
    }
}

/// The shared server, for the exit handler (a C function: it can only reach globals).
private let serverToStopAtExit = Mutex<PostgresServer?>(nil)
