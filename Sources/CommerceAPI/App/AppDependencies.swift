import CommerceStore
import CouponGate
import Foundation
import Logging
import Ranking
import RedisClient
import ServiceLifecycle

/// The parts of the service, built once: the durable store (a driver), Redis, how requests
/// authenticate, the coupon gate (with its rate limits), the sales ranking, the item cache, the
/// reconcile job, the metrics and the clock (injectable, so tests can place orders on chosen
/// days). Routes get only the parts they use.
public struct AppDependencies: Sendable {
    public let store: any StoreDriver
    public let redis: RedisClient
    /// The coupon gate; a `Service` too (it retries give-backs).
    public let coupons: CouponIssuer
    public let authentication: AuthenticationMode
    public let metrics = CommerceMetrics()
    /// Units sold per day; an outbox sink, run by its own relay.
    public let ranking: SalesRanking
    /// Milliseconds since the Unix epoch.
    public let now: @Sendable () -> Int64
    /// Items and listing pages in Redis; a `Service` too (it retries failed invalidations).
    let itemCache: ItemCache
    let popularItems: PopularItems
    /// The reconcile job over these stores (for the admin route and the nightly run).
    let reconciler: Reconciler

    public init(
        store: any StoreDriver, redis: RedisClient, authentication: AuthenticationMode,
        issueLimits: IssueRateLimits = .standard, timeZone: TimeZone = TimeZone(identifier: "UTC")!,
        logger: Logger = Logger(label: "commerce"), now: @escaping @Sendable () -> Int64 = Timestamp.now
    ) {
        self.store = store
        self.redis = redis
        self.authentication = authentication
        self.coupons = CouponIssuer(redis: redis, store: store.coupons, logger: logger, limits: issueLimits)
        self.ranking = SalesRanking(redis: redis, timeZone: timeZone)
        self.itemCache = ItemCache(redis: redis, items: store.items, logger: logger)
        self.popularItems = PopularItems(ranking: ranking, itemCache: itemCache, items: store.items, sales: store.sales)
        self.now = now
        self.reconciler = Reconciler(store: store, redis: redis, ranking: ranking, itemCache: itemCache, logger: logger,
                                     now: now, metrics: metrics)
    }

    /// The outbox sinks with their metric labels: the data-platform stream and the ranking.
    var outboxSinks: [(label: String, sink: any OutboxSink)] {
        [("stream", OrderStreamPublisher(redis: redis)), ("ranking", ranking)]
    }

    /// What runs beside the HTTP server, in start order (stopped in reverse): the store, one
    /// outbox relay per sink (stream, ranking), the key pruner, the coupon gate and the item cache.
    func services(logger: Logger) -> [any Service] {
        [store]
            + outboxSinks.map { OutboxRelay(outbox: store.outbox, sink: $0.sink, logger: logger, now: now) as any Service }
            + [
                IdempotencyKeyPruner(keys: store.idempotencyKeys, logger: logger, now: now),
                coupons,
                itemCache,
            ]
    }
}
