import Foundation
import GRDB

/// The durable record: one SQLite file in WAL mode with `synchronous=FULL`, migrated on open.
///
/// Reads go to the pool's readers, concurrently with writes; writes go through ``writer``
/// (group commit) so that many concurrent requests share one fsync.
public final class CommerceDatabase: Sendable {
    /// The GRDB pool, for reads and for bulk jobs (seeding, reconcile) that batch their own writes.
    public let pool: DatabasePool
    public let writer: GroupCommitWriter

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

    /// Runs `body` on a reader connection, in a snapshot of the last committed state.
    public func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await pool.read(body)
    }

    /// Runs `body` through the group-commit writer; see ``GroupCommitWriter/write(_:)``.
    public func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await writer.write(body)
    }

    /// True when SQLite answers a trivial query.
    public func isReachable() async -> Bool {
        (try? await pool.read { try Int.fetchOne($0, sql: "SELECT 1") }) == 1
    }

    /// The names of the applied migrations, oldest first.
    public func appliedMigrations() async throws -> [String] {
        try await pool.read { try Schema.migrator.appliedMigrations($0) }
    }
}
