import CommerceStore
import GRDB

/// Paid orders waiting to be published to the data platform. Orders are append-only and
/// committed by one writer, so ids grow in commit order and the orders table is the outbox: a
/// stream only needs the id of the last order it published (`outbox_cursor`). An acknowledged
/// order is therefore never without its (future) event.
enum Outbox {
    /// The ids of the oldest orders after `cursor` (see ``cursor(_:stream:)``), at most `limit`,
    /// oldest first.
    static func pending(_ db: Database, after cursor: Int64, limit: Int) throws -> [Int64] {
        try Int64.fetchAll(db, sql: "SELECT id FROM orders WHERE id > ? ORDER BY id LIMIT ?", arguments: [cursor, limit])
    }

    /// Records that `stream` has every order up to `lastOrderID` (the cursor never moves back).
    static func markSent(_ db: Database, stream: String, through lastOrderID: Int64, at now: Int64) throws {
        try db.cachedStatement(sql: """
            INSERT INTO outbox_cursor (stream, last_order_id, updated_at) VALUES (?1, ?2, ?3)
            ON CONFLICT (stream) DO UPDATE SET last_order_id = max(last_order_id, ?2), updated_at = ?3
            """).execute(arguments: [stream, lastOrderID, now])
    }

    /// Moves `stream`'s cursor back to `lastOrderID`, so the orders after it are published again
    /// (the stream lost them).
    static func rewind(_ db: Database, stream: String, to lastOrderID: Int64, at now: Int64) throws {
        try db.execute(sql: "UPDATE outbox_cursor SET last_order_id = ?, updated_at = ? WHERE stream = ? AND last_order_id > ?",
                       arguments: [lastOrderID, now, stream, lastOrderID])
    }

    /// How many orders wait to be published to `stream`.
    static func backlog(_ db: Database, stream: String) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM orders WHERE id > ?", arguments: [try cursor(db, stream: stream)]) ?? 0
    }

    /// The id of the last order published to `stream` (0: none yet).
    static func cursor(_ db: Database, stream: String) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT last_order_id FROM outbox_cursor WHERE stream = ?", arguments: [stream]) ?? 0
    }
}
