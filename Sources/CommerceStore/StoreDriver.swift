import ServiceLifecycle

/// The durable store: one driver per database (SQLite embedded, PostgreSQL shared), each in its
/// own module with its own SQL, migrations and error mapping. Callers see whole use cases, one
/// protocol per aggregate, never a connection or a transaction.
///
/// A driver is a `Service`, run once: whatever it batches or pools runs in its `run()`, and
/// requests made while it does not run may wait (the SQLite driver's writes queue for its
/// writer, the PostgreSQL driver's for a connection). On graceful
/// shutdown it finishes what it accepted, then refuses new work with ``StoreError/Code/closed``.
///
/// Obligations every driver keeps, whatever its database:
/// - Money and stock change by conditional statements, never read-then-write: a balance never
///   goes below 0, an item's stock never below 0, across any number of concurrent callers.
/// - A method either does all of its use case or nothing of it (one transaction).
/// - A failure that a later retry may not meet (lock, outage, disk) is thrown as
///   ``StoreError`` with code ``StoreError/Code/unavailable``, and nothing was changed.
/// - Business refusals are ``CommerceError``s from its factories (a driver words none), with
///   nothing changed. Orders are priced and refused above the drivers (``OrderPricing``): a
///   driver reads the quote and carries the plan out under conditions.
public protocol StoreDriver: Service {
    /// The database's name in logs, metrics and readiness checks: `sqlite`, `postgres`.
    var name: String { get }
    /// The driver's store of each aggregate.
    var stores: Stores { get }

    /// True when the database answers a trivial query now.
    func isReachable() async -> Bool
    /// The names of the applied schema migrations, oldest first.
    func appliedMigrations() async throws -> [String]
}

/// One store per aggregate, as a driver serves them.
public struct Stores: Sendable {
    public var points: any PointStore
    public var items: any ItemStore
    public var orders: any OrderStore
    public var coupons: any CouponStore
    public var outbox: any OutboxStore
    public var sales: any SalesStore
    public var idempotencyKeys: any IdempotencyKeyStore

    public init(points: any PointStore, items: any ItemStore, orders: any OrderStore, coupons: any CouponStore,
                outbox: any OutboxStore, sales: any SalesStore, idempotencyKeys: any IdempotencyKeyStore) {
        self.points = points
        self.items = items
        self.orders = orders
        self.coupons = coupons
        self.outbox = outbox
        self.sales = sales
        self.idempotencyKeys = idempotencyKeys
    }
}

extension StoreDriver {
    public var points: any PointStore { stores.points }
    public var items: any ItemStore { stores.items }
    public var orders: any OrderStore { stores.orders }
    public var coupons: any CouponStore { stores.coupons }
    public var outbox: any OutboxStore { stores.outbox }
    public var sales: any SalesStore { stores.sales }
    public var idempotencyKeys: any IdempotencyKeyStore { stores.idempotencyKeys }

    /// Runs `body` while the driver runs (for commands that use the store without a service
    /// group, such as `seed`), then stops the driver after what `body` queued is done.
    public func whileRunning<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.run() }
            defer { group.cancelAll() }
            return try await body()
        }
    }
}
