import CommerceStore
import Logging
import PostgresNIO
import ServiceLifecycle

/// The shared store: one PostgreSQL database that any number of API processes use at once.
///
/// Requests run as short transactions over a pool of connections (`PostgresClient`), side by
/// side; concurrent commits share PostgreSQL's WAL flushes. Money and stock change by
/// conditional statements, so the database, not a process, decides who gets the last unit.
/// The outbox's commit order comes from the placing transaction's id (see ``PostgresOutboxStore``).
public final class PostgresStore: StoreDriver, Sendable {
    public var name: String { "postgres" }
    let client: PostgresClient
    /// How long the pool may go without handing out a connection before the requests waiting
    /// for one are refused as unavailable (see ``connection(_:)``).
    let leaseTimeout: Duration
    let leases = LeaseProgress()
    /// Concurrent issuance batches, merged into one statement (see ``IssuanceWrites``).
    let issuanceWrites = IssuanceWrites()

    /// Connects to the database `url` names (``PostgresURL``) with one connection, applies every
    /// pending migration (one process at a time, under an advisory lock), then makes the pool
    /// that ``run()`` runs.
    ///
    /// - Parameters:
    ///   - maxConnections: the pool's size per process.
    ///   - leaseTimeout: how long the pool may hand out no connection before waiting requests
    ///     are refused (PostgreSQL down).
    public init(url: String, maxConnections: Int = 32, leaseTimeout: Duration = .milliseconds(500), logger: Logger) async throws {
        let url = try PostgresURL(url)
        var configuration = url.clientConfiguration
        configuration.options.maximumConnections = maxConnections
        configuration.options.minimumConnections = 0
        configuration.options.connectTimeout = .seconds(2)
        self.leaseTimeout = leaseTimeout
        try await Self.mappingErrors {
            try await PostgresSchema.migrate(url, logger: logger)
        }
        client = PostgresClient(configuration: configuration, backgroundLogger: logger)
    }

    public var stores: Stores {
        Stores(points: PostgresPointStore(store: self), items: PostgresItemStore(store: self), orders: PostgresOrderStore(store: self),
               coupons: PostgresCouponStore(store: self), outbox: PostgresOutboxStore(store: self), sales: PostgresSalesStore(store: self),
               idempotencyKeys: PostgresIdempotencyKeyStore(store: self))
    }

    /// Runs the connection pool until graceful shutdown or cancellation.
    public func run() async throws {
        await client.run()
    }

    public func isReachable() async -> Bool {
        (try? await connection { try await $0.value(Int64.self, "SELECT 1") }) == 1
    }

    public func appliedMigrations() async throws -> [String] {
        try await connection { try await $0.values(String.self, "SELECT name FROM schema_migrations ORDER BY applied_order") }
    }

    /// Runs `body` on a pooled connection, outside any transaction (each statement its own).
    ///
    /// A request is refused as unavailable when it has waited ``leaseTimeout`` for a connection
    /// and no other request got one in that time either: while PostgreSQL is down the pool
    /// keeps trying to connect, and callers must not wait with it; a pool that is only busy
    /// hands out connections all the time, and its callers wait their turn. Once `body` has
    /// begun it is never cut off: a statement under way runs to its end (a dead connection fails
    /// it soon enough), so "refused" always means "nothing done".
    func connection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await Self.mappingErrors {
            let lease = LeaseDeadline()
            return try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask {
                    try await self.client.withConnection { connection in
                        guard lease.begin() else { throw CancellationError() }
                        self.leases.recordLease()
                        return try await body(connection)
                    }
                }
                group.addTask {
                    // The watchdog: returns once the pool has made no progress for a whole
                    // timeout (or when the request is done and it is cancelled).
                    while (try? await Task.sleep(for: self.leaseTimeout)) != nil {
                        if lease.hasBegun || !self.leases.leasedWithin(self.leaseTimeout) { break }
                    }
                    return nil
                }
                while let next = try await group.next() {
                    if let value = next {
                        group.cancelAll()
                        return value
                    }
                    if lease.expire() {
                        group.cancelAll()
                        throw StoreError(.unavailable, "PostgreSQL: no connection to be had for \(self.leaseTimeout)")
                    }
                }
                throw CancellationError()
            }
        }
    }

    /// Runs `body` in one transaction on a pooled connection: committed when it returns, rolled
    /// back when it throws (what it threw is rethrown as it is).
    func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await connection { connection in
            try await connection.run("BEGIN")
            let value: T
            do {
                value = try await body(connection)
            } catch {
                // A failed rollback leaves the connection broken; the pool then replaces it.
                try? await connection.run("ROLLBACK")
                throw error
            }
            try await connection.run("COMMIT")
            return value
        }
    }

    /// PostgreSQL's "cannot now" errors as the store's ``StoreError/Code/unavailable``;
    /// everything else (refusals, bugs) as it is.
    static func mappingErrors<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            throw PostgresErrors.mapped(error)
        }
    }
}
