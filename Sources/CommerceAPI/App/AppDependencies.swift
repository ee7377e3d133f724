import CommerceStore
import Foundation
import RedisClient

/// What the routes share: the two stores and the clock (injectable, so tests can place orders
/// on chosen days).
public struct AppDependencies: Sendable {
    public var database: CommerceDatabase
    public var redis: RedisClient
    /// Milliseconds since the Unix epoch.
    public var now: @Sendable () -> Int64

    public init(database: CommerceDatabase, redis: RedisClient, now: @escaping @Sendable () -> Int64 = systemNow) {
        self.database = database
        self.redis = redis
        self.now = now
    }

    /// The system clock in milliseconds since the Unix epoch.
    public static let systemNow: @Sendable () -> Int64 = { Timestamp(Date()).milliseconds }

    var idempotentWrite: IdempotentWrite { IdempotentWrite(database: database, now: now) }
}
