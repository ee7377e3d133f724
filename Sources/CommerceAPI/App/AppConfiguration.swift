import CommerceCore
import CouponGate
import Foundation
import Logging
import RedisClient

/// Everything `commerce serve` needs to know besides the store, already validated.
public struct AppConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var redis: RedisConfiguration
    /// The zone whose calendar days the sales ranking counts in.
    public var timeZone: TimeZone
    public var logLevel: Logger.Level
    /// When the nightly reconcile runs (local time in ``timeZone``); nil: never.
    public var reconcileAt: ReconcileTime?
    public var authentication: AuthenticationMode
    public var issueLimits: IssueRateLimits
    /// Whose `X-Forwarded-For` gives a request's client address.
    public var trustedProxies: TrustedProxies
    /// The connection cap and the timeouts for clients that stop short.
    public var connections: ConnectionLimits

    public init(
        host: String = "127.0.0.1",
        port: Int = 8080,
        redis: RedisConfiguration,
        timeZone: TimeZone = TimeZone(identifier: "UTC")!,
        logLevel: Logger.Level = .info,
        reconcileAt: ReconcileTime? = ReconcileTime("03:00"),
        authentication: AuthenticationMode,
        issueLimits: IssueRateLimits = .standard,
        trustedProxies: TrustedProxies = .none,
        connections: ConnectionLimits
    ) {
        self.connections = connections
        self.authentication = authentication
        self.issueLimits = issueLimits
        self.trustedProxies = trustedProxies
        self.host = host
        self.port = port
        self.redis = redis
        self.timeZone = timeZone
        self.logLevel = logLevel
        self.reconcileAt = reconcileAt
    }
}
