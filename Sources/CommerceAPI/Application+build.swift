import CommerceStore
import Hummingbird
import Logging
import RedisClient

/// Builds the HTTP service: opens (and migrates) the database, connects Redis lazily, mounts
/// every route behind the logging and problem+json middlewares, and registers the long-lived
/// parts as services so SIGTERM drains requests, then commits pending writes, then closes Redis.
public func buildApplication(_ configuration: AppConfiguration) async throws -> some ApplicationProtocol {
    var logger = Logger(label: "commerce")
    logger.logLevel = configuration.logLevel
    let database = try CommerceDatabase(path: configuration.databasePath, maxBatch: configuration.maxWriteBatch)
    let redis = RedisClient(configuration: configuration.redis, logger: logger)

    let router = buildRouter(database: database, redis: redis)
    var app = Application(
        router: router,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "commerce"),
        logger: logger
    )
    // Shut down in reverse order: the server drains first, then the writer commits, then Redis closes.
    app.addServices(redis, database.writer)
    return app
}

/// The router with every route and middleware; separate from ``buildApplication(_:)`` so tests
/// can drive it with their own database and Redis.
public func buildRouter(database: CommerceDatabase, redis: RedisClient) -> Router<CommerceRequestContext> {
    let router = Router(context: CommerceRequestContext.self)
    router.add(middleware: RequestLogMiddleware())
    router.add(middleware: ProblemMiddleware())
    HealthController(database: database, redis: redis).addRoutes(to: router)
    return router
}
