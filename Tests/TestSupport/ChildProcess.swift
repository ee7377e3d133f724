import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A program started by a test (e.g. the `commerce` server), its output appended to a log file,
/// signalled and reaped by its PID. posix_spawn and waitpid rather than Foundation's Process,
/// whose exit monitoring does not work from a test's concurrency threads.
public final class ChildProcess: Sendable {
    public let pid: pid_t
    public let logFile: URL

    private init(pid: pid_t, logFile: URL) {
        self.pid = pid
        self.logFile = logFile
    }

    public static func spawn(_ arguments: [String], logFile: URL) throws -> ChildProcess {
        let pid = try spawnProcess(arguments, output: logFile)
        // Recorded for scripts/test, which stops it if this test process dies before reaping it.
        try? "\(pid)\n".write(to: pidFile(pid), atomically: true, encoding: .utf8)
        return ChildProcess(pid: pid, logFile: logFile)
    }

    private static func pidFile(_ pid: pid_t) -> URL {
        testScratchDirectory.appendingPathComponent("child-\(pid).pid")
    }

    public func signal(_ signal: Int32) {
        kill(pid, signal)
    }

    /// Waits up to `timeout` for the process to exit and reaps it; its exit status (128 + signal
    /// when killed), or nil if it is still running.
    @discardableResult
    public func waitForExit(timeout: Duration = .seconds(10)) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        repeat {
            var status: Int32 = 0
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid {
                try? FileManager.default.removeItem(at: Self.pidFile(pid))
                let signal = status & 0x7f
                return signal == 0 ? (status >> 8) & 0xff : 128 + signal
            }
            if reaped == -1 && errno != EINTR { return -1 }
            try? await Task.sleep(for: .milliseconds(20))
        } while ContinuousClock.now < deadline
        return nil
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`; always reaped afterwards.
    public func stop(grace: Duration = .seconds(10)) async {
        signal(SIGTERM)
        if await waitForExit(timeout: grace) == nil {
            signal(SIGKILL)
            await waitForExit()
        }
    }

    /// The log so far, for failure messages.
    public var output: String {
        (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
    }
}

/// The path of an executable product built next to the test bundle (e.g. `commerce`), or the
/// value of `<NAME>_BIN` (e.g. `COMMERCE_BIN`) when set.
public func builtExecutable(_ name: String) throws -> String {
    if let path = ProcessInfo.processInfo.environment["\(name.uppercased())_BIN"] { return path }
    let testBinary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    var directory = testBinary.deletingLastPathComponent()
    // The test binary may sit inside a bundle folder (`.xctest/...`): walk up to the build folder.
    for _ in 0..<4 {
        let candidate = directory.appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        directory = directory.deletingLastPathComponent()
    }
    throw TestSupportError("no built `\(name)` near \(testBinary.path): run `swift build` first (scripts/test does)")
}

/// Starts `arguments[0]` with `arguments` (stdout and stderr appended to `output`, if given) and
/// returns its PID. The child starts with no signal blocked and default signal handlers: a test's
/// thread has signals blocked (the runtime's threads do), posix_spawn would pass that mask on,
/// and a redis-server started so ignores the SIGTERM it is later stopped with.
func spawnProcess(_ arguments: [String], output: URL? = nil) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    if let output {
        posix_spawn_file_actions_addopen(&actions, 1, output.path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
    }
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    posix_spawnattr_setsigmask(&attributes, &noSignals)
    var allSignals = sigset_t()
    sigfillset(&allSignals)
    posix_spawnattr_setsigdefault(&attributes, &allSignals)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    var cArguments = arguments.map { strdup($0) } + [nil]
    defer { for argument in cArguments { free(argument) } }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, arguments[0], &actions, &attributes, &cArguments, environ)
    guard spawned == 0 else { throw TestSupportError("cannot run \(arguments[0]): error \(spawned)") }
    return pid
}

/// Sends `signal` to a daemon (a server that forked away from us, so not our child to reap), then
/// SIGKILL if it still runs after `killAfter`; returns once it has gone. Its parent is now PID 1,
/// which in a container may never reap it, so an exited daemon can linger as a zombie: that
/// counts as gone.
func stopDaemon(_ pid: pid_t, with signal: Int32, killAfter: Duration) {
    kill(pid, signal)
    let killAt = ContinuousClock.now + killAfter
    var killed = false
    for _ in 0..<3_000 {
        guard kill(pid, 0) == 0, !isZombie(pid) else { return }
        if !killed && ContinuousClock.now >= killAt {
            kill(pid, SIGKILL)
            killed = true
        }
        usleep(10_000)
    }
}

private func isZombie(_ pid: pid_t) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return false }
    return stat[stat.index(after: close)...].hasPrefix(" Z")
}
