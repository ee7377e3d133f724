import CouponGate
import Foundation
import Logging
import RedisClient

/// Everything `commerce serve` needs to know, already validated.
public struct AppConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var databasePath: String
    public var redis: RedisConfiguration
    /// The zone whose calendar days the sales ranking counts in.
    public var timeZone: TimeZone
    /// Requests per group-commit transaction; 1 turns group commit off.
    public var maxWriteBatch: Int
    public var logLevel: Logger.Level
    /// When the nightly reconcile runs (local time in ``timeZone``); nil: never.
    public var reconcileAt: ReconcileTime?
    public var authentication: AuthenticationMode
    public var issueLimits: IssueRateLimits

    public init(
        host: String = "127.0.0.1",
        port: Int = 8080,
        databasePath: String,
        redis: RedisConfiguration,
        timeZone: TimeZone = TimeZone(identifier: "UTC")!,
        maxWriteBatch: Int = 512,
        logLevel: Logger.Level = .info,
        reconcileAt: ReconcileTime? = ReconcileTime("03:00"),
        authentication: AuthenticationMode,
        issueLimits: IssueRateLimits = .standard
    ) {
        self.authentication = authentication
        self.issueLimits = issueLimits
        self.host = host
        self.port = port
        self.databasePath = databasePath
        self.redis = redis
        self.timeZone = timeZone
        self.maxWriteBatch = maxWriteBatch
        self.logLevel = logLevel
        self.reconcileAt = reconcileAt
    }
}
