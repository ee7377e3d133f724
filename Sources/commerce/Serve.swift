import ArgumentParser
import CommerceAPI
import Foundation
import Hummingbird
import Logging

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the HTTP service.",
        discussion: "SIGTERM or SIGINT stops it gracefully: in-flight requests finish and pending writes are committed."
    )

    @Option(help: "Address to listen on. (env: COMMERCE_HOST, default: 127.0.0.1)")
    var host: String?

    @Option(help: "Port to listen on. (env: COMMERCE_PORT, default: 8080)")
    var port: Int?

    @OptionGroup var stores: StoreOptions

    @OptionGroup var timeZone: TimeZoneOption

    @Option(help: "Most write requests committed in one SQLite transaction; 1 turns group commit off. (env: COMMERCE_WRITE_BATCH, default: 512)")
    var writeBatch: Int?

    @Option(help: "trace, debug, info (one line per request), notice, warning, error or critical. (env: COMMERCE_LOG_LEVEL, default: info)")
    var logLevel: String?

    @Option(help: "Local time (in --timezone) of the nightly reconcile, HH:MM, or off. With several servers one runs it. (env: COMMERCE_RECONCILE_AT, default: 03:00)")
    var reconcileAt: String?

    func run() async throws {
        let host = try resolve(host, env: "COMMERCE_HOST", default: "127.0.0.1")
        let port = try resolve(port, env: "COMMERCE_PORT", default: 8080)
        guard (1...65535).contains(port) else { throw ValidationError("--port must be 1...65535") }
        let zone = try timeZone.resolvedTimeZone()
        let writeBatch = try resolve(writeBatch, env: "COMMERCE_WRITE_BATCH", default: 512)
        guard writeBatch >= 1 else { throw ValidationError("--write-batch must be at least 1") }
        let levelName = try resolve(logLevel, env: "COMMERCE_LOG_LEVEL", default: "info")
        guard let level = Logger.Level(rawValue: levelName) else {
            throw ValidationError("--log-level \(levelName) is not one of trace, debug, info, notice, warning, error, critical")
        }

        let reconcileText = try resolve(reconcileAt, env: "COMMERCE_RECONCILE_AT", default: "03:00")
        let reconcileTime = ReconcileTime(reconcileText)
        guard reconcileTime != nil || reconcileText == "off" else {
            throw ValidationError("--reconcile-at \(reconcileText) is not HH:MM (e.g. 03:00) or off")
        }

        let configuration = AppConfiguration(
            host: host, port: port,
            databasePath: try stores.resolvedDatabasePath(),
            redis: try stores.resolvedRedis(),
            timeZone: zone, maxWriteBatch: writeBatch, logLevel: level, reconcileAt: reconcileTime
        )
        let app = try await buildApplication(configuration)
        try await app.runService()
        app.logger.info("stopped: requests drained, pending writes committed")
    }
}
