import CommerceCore
import CommerceStore
import CouponGate
import Foundation
import Logging
import RedisClient

/// What the HTTP server is built from: the service below it (``Commerce``) and how requests
/// authenticate and find their client's address. Routes get only the parts they use.
public struct AppDependencies: Sendable {
    public let core: Commerce
    public let authentication: AuthenticationMode
    /// Whose `X-Forwarded-For` gives a request's client address.
    public let trustedProxies: TrustedProxies

    /// The service's parameters are ``Commerce/init(store:redis:dataGuard:issueLimits:timeZone:logger:now:redisCheckInterval:)``'s.
    public init(
        store: any StoreDriver, redis: any RedisClient, dataGuard: RedisDataGuard, authentication: AuthenticationMode,
        issueLimits: IssueRateLimits = .standard, trustedProxies: TrustedProxies = .none, timeZone: TimeZone = TimeZone(identifier: "UTC")!,
        logger: Logger = Logger(label: "commerce"), now: @escaping @Sendable () -> Int64 = Timestamp.now,
        redisCheckInterval: Duration = .milliseconds(250)
    ) {
        self.core = Commerce(store: store, redis: redis, dataGuard: dataGuard, issueLimits: issueLimits, timeZone: timeZone,
                             logger: logger, now: now, redisCheckInterval: redisCheckInterval)
        self.authentication = authentication
        self.trustedProxies = trustedProxies
    }
}
