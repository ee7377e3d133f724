import BearerTokens
import CommerceCore
import CommerceStore
import CouponGate
import Hummingbird
import Logging
import NIOCore
import RedisClient

/// Builds the HTTP service over `store` (opened and migrated by the caller, which picks the
/// driver): connects Redis lazily, mounts every route behind the logging and problem+json
/// middlewares, and registers the long-lived parts as services. SIGTERM stops them in reverse
/// order: the server drains its requests, the item cache and the coupon gate make their last
/// retries, the key pruner and the outbox relays stop, the store commits what is queued, then
/// Redis closes.
public func buildApplication(_ configuration: AppConfiguration, store: any StoreDriver) async throws -> some ApplicationProtocol {
    var logger = Logger(label: "commerce")
    logger.logLevel = configuration.logLevel
    let dataGuard = RedisDataGuard(logger: logger)
    let redis = configuration.redis.makeClient(logger: logger, dataGuard: dataGuard)
    let dependencies = AppDependencies(
        store: store, redis: redis, dataGuard: dataGuard, authentication: configuration.authentication,
        issueLimits: configuration.issueLimits, trustedProxies: configuration.trustedProxies, timeZone: configuration.timeZone,
        logger: logger)
    if case .insecureDev = configuration.authentication {
        logger.warning("--insecure-dev: no tokens are checked; every request acts as an admin. Never expose this server.")
    }

    let limits = configuration.connections
    let counts = dependencies.core.metrics.connections
    var app = Application(
        router: buildRouter(dependencies),
        server: .http1(configuration: .init(
            additionalChannelHandlers: [RequestDeadlines(limits: limits, counts: counts)],
            idleTimeout: TimeAmount(limits.idleTimeout))),
        // A burst's connections wait in the kernel's queue (capped by net.core.somaxconn) while
        // the event loops accept, instead of being refused by a short one.
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "commerce",
                             backlog: 4096),
        onServerRunning: { [logger] listener in
            // Ahead of the server's handlers, so a connection past the cap never reaches them.
            do {
                try await listener.eventLoop.submit {
                    try listener.pipeline.syncOperations.addHandler(
                        ConnectionCap(limit: limits.maxConnections, counts: counts), position: .first)
                }.get()
            } catch {
                logger.error("connection cap not installed; connections are not capped", metadata: ["error": "\(error)"])
            }
        },
        logger: logger
    )
    app.addServices(redis)
    app.addServices(dependencies.core.services(logger: logger))
    if case .tokens(let tokens) = configuration.authentication, tokens.hasKeySet {
        app.addServices(KeySetWatcher(tokens: tokens, logger: logger))
    }
    app.beforeServerStarts { await dependencies.core.prepareRedis() }
    if let time = configuration.reconcileAt {
        app.addServices(NightlyReconcile(reconciler: dependencies.core.reconciler, time: time, timeZone: configuration.timeZone, logger: logger))
    }
    return app
}

/// The router with every route and middleware; separate from ``buildApplication(_:)`` so tests
/// can drive it with their own stores and clock.
///
/// Three groups: open routes (health, metrics, the OpenAPI document, the board's page), routes for any valid token
/// (each checks that the `user_id` it acts on is the token's), and `/admin/*` for admin tokens.
public func buildRouter(_ dependencies: AppDependencies) -> Router<CommerceRequestContext> {
    let store = dependencies.core.store
    let now = dependencies.core.now
    let router = Router(context: CommerceRequestContext.self)
    router.add(middleware: RequestObserver(metrics: dependencies.core.metrics))
    router.add(middleware: ProblemMiddleware(metrics: dependencies.core.metrics, storeName: store.name))
    HealthController(store: store, redis: dependencies.core.redis, dataGuard: dependencies.core.dataGuard).addRoutes(to: router)
    MetricsController(metrics: dependencies.core.metrics, counters: dependencies.core.coupons.counters, redis: dependencies.core.redis,
                      outbox: store.outbox,
                      sinks: dependencies.core.outboxSinks.map { ($0.label, $0.sink.cursorName) }).addRoutes(to: router)
    OpenAPIController().addRoutes(to: router)
    let registry = CouponRegistry(redis: dependencies.core.redis)
    let board = BoardController(coupons: store.coupons, registry: registry, activity: dependencies.core.issueActivity, now: now)
    board.addPage(to: router)

    let users = router.group().add(middleware: Authentication(mode: dependencies.authentication))
    PointsController(points: store.points, now: now).addRoutes(to: users)
    ItemsController(itemCache: dependencies.core.itemCache, popularItems: dependencies.core.popularItems, now: now).addRoutes(to: users)
    OrdersController(orders: store.orders, itemCache: dependencies.core.itemCache, metrics: dependencies.core.metrics, now: now)
        .addRoutes(to: users)
    CouponsController(gate: dependencies.core.coupons, coupons: store.coupons, proxies: dependencies.trustedProxies, now: now)
        .addRoutes(to: users)

    let admins = users.group().add(middleware: RequireAdmin())
    AdminItemsController(items: store.items, itemCache: dependencies.core.itemCache, now: now).addRoutes(to: admins)
    AdminCouponsController(coupons: store.coupons, gate: dependencies.core.coupons, registry: registry,
                           creation: CouponCreation(store: store.coupons, redis: dependencies.core.redis), now: now).addRoutes(to: admins)
    ReconcileController(reconciler: dependencies.core.reconciler).addRoutes(to: admins)
    board.addSnapshot(to: admins)
    return router
}
