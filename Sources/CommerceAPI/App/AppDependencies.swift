import CommerceStore
import CouponGate
import Foundation
import Logging
import RedisClient

/// What the routes share: the two stores, the coupon gate and the clock (injectable, so tests
/// can place orders on chosen days).
public struct AppDependencies: Sendable {
    public var database: CommerceDatabase
    public var redis: RedisClient
    /// The coupon gate; a `Service` too (it retries give-backs), run beside the writer.
    public var coupons: CouponIssuer
    /// Milliseconds since the Unix epoch.
    public var now: @Sendable () -> Int64

    public init(
        database: CommerceDatabase, redis: RedisClient, logger: Logger = Logger(label: "commerce"),
        now: @escaping @Sendable () -> Int64 = systemNow
    ) {
        self.database = database
        self.redis = redis
        self.coupons = CouponIssuer(redis: redis, database: database, logger: logger)
        self.now = now
    }

    /// The system clock in milliseconds since the Unix epoch.
    public static let systemNow: @Sendable () -> Int64 = { Timestamp(Date()).milliseconds }

    var idempotentWrite: IdempotentWrite { IdempotentWrite(database: database, now: now) }
    var couponRegistry: CouponRegistry { CouponRegistry(redis: redis) }
}
