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
/// - Business refusals are ``CommerceError``s, with nothing changed.
public protocol StoreDriver: Service {
    /// The database's name in logs, metrics and readiness checks: `sqlite`, `postgres`.
    var name: String { get }
    var points: any PointStore { get }
    var items: any ItemStore { get }
    var orders: any OrderStore { get }
    var coupons: any CouponStore { get }
    var outbox: any OutboxStore { get }
    var sales: any SalesStore { get }
    var idempotencyKeys: any IdempotencyKeyStore { get }

    /// True when the database answers a trivial query now.
    func isReachable() async -> Bool
    /// The names of the applied schema migrations, oldest first.
    func appliedMigrations() async throws -> [String]
}

extension StoreDriver {
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
