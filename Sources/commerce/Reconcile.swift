import ArgumentParser
import CommerceCore
import CommerceStore
import FlatJSON
import Foundation
import Logging
import RedisClient

struct Reconcile: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make Redis agree with SQLite: coupons issued, remaining stock, sales ranking, item cache.",
        discussion: """
            Safe while servers run (one run at a time, across processes: a run already under way, such \
            as a server's own repair, is waited for up to a minute). Exit status: 0 when the two \
            sides agree at the end (with --dry-run: when nothing would change), 1 otherwise, 2 when \
            another run still holds the lock after that minute or a store is unreachable.
            """
    )

    @OptionGroup var stores: StoreOptions
    @OptionGroup var timeZone: TimeZoneOption

    @Flag(help: "Change nothing; report what would change.")
    var dryRun = false

    @Flag(help: "Print the report as JSON (the same object as POST /admin/reconcile).")
    var json = false

    func run() async throws {
        // The report goes to stdout (it may be JSON for a script); the log to stderr.
        // On a terminal, progress shows in one line rewritten in place and the log keeps to what
        // changed; otherwise (cron, CI) the log carries the progress, once a second.
        let onTerminal = isatty(STDERR_FILENO) == 1
        var logger = Logger(label: "commerce") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = onTerminal ? .notice : .info
        // A mistyped path must not become an empty database that "repairs" Redis to match it
        // (it would empty the ranking days).
        let location = try stores.resolvedDatabase()
        if case .sqlite(let path) = location, !FileManager.default.fileExists(atPath: path) {
            FileHandle.standardError.write(Data("reconcile: no database at \(path); it compares Redis with an existing one\n".utf8))
            throw ExitCode(2)
        }
        let store: any StoreDriver
        do {
            store = try await stores.openStore(location, logger: logger)
        } catch let error as StoreError {
            FileHandle.standardError.write(Data("reconcile: \(error)\n".utf8))
            throw ExitCode(2)
        }
        let redis = try stores.resolvedRedis().makeClient(logger: logger)
        defer { redis.shutdown() }
        let progress: (@Sendable (String) -> Void)? = onTerminal ? Self.showProgress : nil
        let reconciler = Reconciler(store: store, redis: redis, timeZone: try timeZone.resolvedTimeZone(),
                                    logger: logger, progress: progress)
        let report: ReconcileReport
        do {
            report = try await store.whileRunning { [dryRun] in try await reconciler.run(dryRun: dryRun, lockPatience: .seconds(60)) }
        } catch {
            if progress != nil { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            FileHandle.standardError.write(Data("reconcile: \(error)\n".utf8))
            throw ExitCode(2)
        }
        if progress != nil { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        print(json ? String(decoding: JSONWriter.encode(report), as: UTF8.self) : report.text)
        if !report.agreed { throw ExitCode(1) }
    }

    @Sendable static func showProgress(_ line: String) {
        FileHandle.standardError.write(Data("\r\u{1B}[K\(line)".utf8))
    }
}
