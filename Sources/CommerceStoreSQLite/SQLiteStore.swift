import CommerceStore
import Foundation
import GRDB
import ServiceLifecycle

/// The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, migrated on open.
///
/// Reads go to the pool's readers, concurrently with writes; writes go through one
/// ``GroupCommitWriter`` so that many concurrent requests share one transaction and one fsync.
/// SQLite has a single writer, which is how this driver keeps the outbox's commit-order
/// obligation: order ids grow in commit order.
public final class SQLiteStore: StoreDriver, Sendable {
    public var name: String { "sqlite" }
    /// The GRDB pool, for reads and for bulk work (reconcile staging) that batches its own writes.
    let pool: DatabasePool
    let writer: GroupCommitWriter

    /// Opens (creating if needed) the database at `path` and applies every pending migration.
    ///
    /// - Parameters:
    ///   - busyTimeout: how long a connection waits for another process's lock before failing.
    ///   - maxBatch: requests per group-commit transaction; 1 turns group commit off.
    public init(path: String, busyTimeout: TimeInterval = 5, maxBatch: Int = 512) throws {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.busyMode = .timeout(busyTimeout)
        pool = try DatabasePool(path: path, configuration: configuration)
        // Money lives here: a commit must survive power loss, not only a process crash. Set on
        // the pool's one writer connection after GRDB's WAL set-up, which chooses NORMAL.
        try pool.writeWithoutTransaction { try $0.execute(sql: "PRAGMA synchronous = FULL") }
        try Schema.migrator.migrate(pool)
        writer = GroupCommitWriter(database: pool, maxBatch: maxBatch)
    }

    public var stores: Stores {
        Stores(points: SQLitePointStore(store: self), items: SQLiteItemStore(store: self), orders: SQLiteOrderStore(store: self),
               coupons: SQLiteCouponStore(store: self), outbox: SQLiteOutboxStore(store: self), sales: SQLiteSalesStore(store: self),
               idempotencyKeys: SQLiteIdempotencyKeyStore(store: self))
    }

    /// Runs the group-commit writer until graceful shutdown or cancellation.
    public func run() async throws {
        try await writer.run()
    }

    public func isReachable() async -> Bool {
        (try? await pool.read { try Int.fetchOne($0, sql: "SELECT 1") }) == 1
    }

    public func appliedMigrations() async throws -> [String] {
        try await read { try Schema.migrator.appliedMigrations($0) }
    }

    /// Runs `body` on a reader connection, in a snapshot of the last committed state.
    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await Self.mappingErrors { try await pool.read(body) }
    }

    /// Runs `body` through the group-commit writer; see ``GroupCommitWriter/write(_:)``.
    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await Self.mappingErrors { try await writer.write(body) }
    }

    /// Runs `body` on the pool's one writer connection, outside group commit: for bulk work that
    /// batches its own writes and needs the same connection from one call to the next (TEMP tables).
    func writeDirectly<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await Self.mappingErrors { try await pool.write(body) }
    }

    /// SQLite's "cannot now" errors as the store's ``StoreError/Code/unavailable``; everything
    /// else (refusals, bugs) as it is.
    static func mappingErrors<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            throw mapped(error)
        }
    }

    static func mapped(_ error: any Error) -> any Error {
        guard let error = error as? DatabaseError, error.isUnavailable else { return error }
        return StoreError(.unavailable, "SQLite: \(error)")
    }
}
