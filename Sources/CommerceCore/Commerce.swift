import CommerceStore
import CouponGate
import Foundation
import Logging
import Ranking
import RedisClient
import ServiceLifecycle

/// The service below HTTP, built once: the durable store (a driver), Redis and the guard of its
/// data, the coupon gate (with its rate limits), the sales ranking, the item cache and the
/// popular list, the reconcile job and the repair after Redis lost data, the board's activity,
/// the metrics and the clock (injectable, so tests can place orders on chosen days). The HTTP
/// module routes requests to these parts; `commerce reconcile` and `seed` use their own.
public struct Commerce: Sendable {
    public let store: any StoreDriver
    public let redis: any RedisClient
    /// The coupon gate; a `Service` too (it retries give-backs).
    public let coupons: CouponIssuer
    public let metrics = CommerceMetrics()
    /// Units sold per day; an outbox sink, run by its own relay.
    public let ranking: SalesRanking
    /// Milliseconds since the Unix epoch.
    public let now: @Sendable () -> Int64
    /// Items and listing pages in Redis; a `Service` too (it retries failed invalidations).
    public let itemCache: ItemCache
    public let popularItems: PopularItems
    /// The reconcile job over these stores (for the admin route and the nightly run).
    public let reconciler: Reconciler
    /// Whether Redis's data can be trusted; the same guard the Redis client verifies on connect.
    public let dataGuard: RedisDataGuard
    /// Repairs Redis after it lost data; a `Service`, and run once before the server starts.
    let redisRepair: RedisRepair
    /// Issue outcomes and latency per second for the live board; a `Service` (it samples).
    public let issueActivity: IssueActivity

    /// - Parameters:
    ///   - dataGuard: the guard `redis` was created with (``RedisConfiguration/makeClient(logger:dataGuard:)``).
    ///   - redisCheckInterval: how often Redis's data is verified besides on every new connection
    ///     (what catches a flush, which keeps the connections).
    public init(
        store: any StoreDriver, redis: any RedisClient, dataGuard: RedisDataGuard, issueLimits: IssueRateLimits = .standard,
        timeZone: TimeZone = TimeZone(identifier: "UTC")!, logger: Logger = Logger(label: "commerce"),
        now: @escaping @Sendable () -> Int64 = Timestamp.now, redisCheckInterval: Duration = .milliseconds(250)
    ) {
        self.store = store
        self.redis = redis
        self.dataGuard = dataGuard
        self.coupons = CouponIssuer(redis: redis, store: store.coupons, logger: logger, limits: issueLimits, dataGuard: dataGuard)
        self.ranking = SalesRanking(redis: redis, timeZone: timeZone)
        self.itemCache = ItemCache(redis: redis, items: store.items, logger: logger)
        self.popularItems = PopularItems(ranking: ranking, itemCache: itemCache, items: store.items, sales: store.sales)
        self.now = now
        self.issueActivity = IssueActivity(counters: coupons.counters, latency: metrics.issueLatency)
        self.reconciler = Reconciler(store: store, redis: redis, timeZone: timeZone, logger: logger, now: now, metrics: metrics)
        self.redisRepair = RedisRepair(dataGuard: dataGuard, redis: redis, reconciler: reconciler, metrics: metrics, logger: logger,
                                       interval: redisCheckInterval)
    }

    /// The outbox sinks with their metric labels: the data-platform stream and the ranking.
    public var outboxSinks: [(label: String, sink: any OutboxSink)] {
        [("stream", OrderStreamPublisher(redis: redis)), ("ranking", ranking)]
    }

    /// What runs beside the HTTP server, in start order (stopped in reverse): the store, the
    /// Redis repair, one outbox relay per sink (stream, ranking; paused while Redis's data is not
    /// trusted), the key pruner, the coupon gate, the item cache and the board's sampler.
    public func services(logger: Logger) -> [any Service] {
        let dataGuard = self.dataGuard
        return [store, redisRepair]
            + outboxSinks.map {
                OutboxRelay(outbox: store.outbox, sink: $0.sink, logger: logger, now: now,
                            isPaused: { !dataGuard.isTrusted }) as any Service
            }
            + [
                IdempotencyKeyPruner(keys: store.idempotencyKeys, logger: logger, now: now),
                coupons,
                itemCache,
                issueActivity,
            ]
    }

    /// Before the server takes requests: Redis's data verified, and repaired if it was lost (a
    /// Redis that cannot be reached now is verified when it can).
    public func prepareRedis() async {
        await redisRepair.checkAndRepair()
    }
}
