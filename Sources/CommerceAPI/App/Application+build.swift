import CommerceStore
import Hummingbird
import Logging
import RedisClient

/// Builds the HTTP service: opens (and migrates) the database, connects Redis lazily, mounts
/// every route behind the logging and problem+json middlewares, and registers the long-lived
/// parts as services. SIGTERM stops them in reverse order: the server drains its requests, the
/// item cache and the coupon gate make their last retries, the key pruner and the outbox relays
/// stop, the writer commits what is queued, then Redis closes.
public func buildApplication(_ configuration: AppConfiguration) async throws -> some ApplicationProtocol {
    var logger = Logger(label: "commerce")
    logger.logLevel = configuration.logLevel
    let database = try CommerceDatabase(path: configuration.databasePath, maxBatch: configuration.maxWriteBatch)
    let redis = RedisClient(configuration: configuration.redis, logger: logger)
    let dependencies = AppDependencies(database: database, redis: redis, timeZone: configuration.timeZone, logger: logger)

    var app = Application(
        router: buildRouter(dependencies),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "commerce"),
        logger: logger
    )
    app.addServices(redis)
    app.addServices(dependencies.services(logger: logger))
    if let time = configuration.reconcileAt {
        app.addServices(NightlyReconcile(reconciler: dependencies.reconciler, time: time, timeZone: configuration.timeZone, logger: logger))
    }
    return app
}

/// The router with every route and middleware; separate from ``buildApplication(_:)`` so tests
/// can drive it with their own stores and clock.
public func buildRouter(_ dependencies: AppDependencies) -> Router<CommerceRequestContext> {
    let router = Router(context: CommerceRequestContext.self)
    router.add(middleware: RequestLogMiddleware())
    router.add(middleware: ProblemMiddleware())
    HealthController(database: dependencies.database, redis: dependencies.redis).addRoutes(to: router)
    PointsController(dependencies: dependencies).addRoutes(to: router)
    ItemsController(dependencies: dependencies).addRoutes(to: router)
    AdminItemsController(dependencies: dependencies).addRoutes(to: router)
    OrdersController(dependencies: dependencies).addRoutes(to: router)
    CouponsController(dependencies: dependencies).addRoutes(to: router)
    AdminCouponsController(dependencies: dependencies).addRoutes(to: router)
    ReconcileController(dependencies: dependencies).addRoutes(to: router)
    return router
}
