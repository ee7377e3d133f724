import CommerceStore
import CouponGate
import Foundation
import Logging
import Ranking
import RedisClient
import ServiceLifecycle

/// What the routes share: the two stores, how requests authenticate, the coupon gate (with its
/// rate limits), the sales ranking, the item cache, the reconcile job, the metrics and the clock
/// (injectable, so tests can place orders on chosen days).
public struct AppDependencies: Sendable {
    public var database: CommerceDatabase
    public var redis: RedisClient
    /// The coupon gate; a `Service` too (it retries give-backs), run beside the writer.
    public var coupons: CouponIssuer
    public var authentication: AuthenticationMode
    public let metrics = CommerceMetrics()
    /// Units sold per day; an outbox sink, run by its own relay.
    public var ranking: SalesRanking
    /// Milliseconds since the Unix epoch.
    public var now: @Sendable () -> Int64
    /// Items and listing pages in Redis; a `Service` too (it retries failed invalidations).
    let itemCache: ItemCache
    let popularItems: PopularItems
    /// The reconcile job over these stores (for the admin route and the nightly run).
    let reconciler: Reconciler

    public init(
        database: CommerceDatabase, redis: RedisClient, authentication: AuthenticationMode,
        issueLimits: IssueRateLimits = .standard, timeZone: TimeZone = TimeZone(identifier: "UTC")!,
        logger: Logger = Logger(label: "commerce"), now: @escaping @Sendable () -> Int64 = systemNow
    ) {
        self.database = database
        self.redis = redis
        self.authentication = authentication
        self.coupons = CouponIssuer(redis: redis, database: database, logger: logger, limits: issueLimits)
        self.ranking = SalesRanking(redis: redis, timeZone: timeZone)
        self.itemCache = ItemCache(redis: redis, database: database, logger: logger)
        self.popularItems = PopularItems(ranking: ranking, itemCache: itemCache, database: database)
        self.now = now
        self.reconciler = Reconciler(database: database, redis: redis, ranking: ranking, itemCache: itemCache, logger: logger,
                                     now: now, metrics: metrics)
    }

    /// What runs beside the HTTP server, in start order (stopped in reverse): the writer, one
    /// outbox relay per sink (stream, ranking), the key pruner, the coupon gate and the item cache.
    func services(logger: Logger) -> [any Service] {
        [
            database.writer,
            OutboxRelay(database: database, sink: OrderStreamPublisher(redis: redis), logger: logger),
            OutboxRelay(database: database, sink: ranking, logger: logger),
            IdempotencyKeyPruner(database: database, logger: logger),
            coupons,
            itemCache,
        ]
    }

    /// The system clock in milliseconds since the Unix epoch.
    public static let systemNow: @Sendable () -> Int64 = { Timestamp(Date()).milliseconds }

    var idempotentWrite: IdempotentWrite { IdempotentWrite(database: database, now: now) }
    var couponRegistry: CouponRegistry { CouponRegistry(redis: redis) }
}
