import GRDB

/// Orders waiting to be published to the data platform, in commit order. A row is written in the
/// order's own transaction, so an acknowledged order is never without its event; the event is
/// built from the (immutable) order when it is published.
public enum Outbox {
    /// An order whose event has not been published yet.
    public struct Entry: Sendable, Hashable {
        public var id: Int64
        public var orderID: Int64
    }

    static func enqueue(_ db: Database, orderID: Int64, at now: Int64) throws {
        try db.cachedStatement(sql: "INSERT INTO outbox (order_id, created_at) VALUES (?, ?)")
            .execute(arguments: [orderID, now])
    }

    /// The oldest unpublished entries, at most `limit`, oldest first. The writer is single, so id
    /// order is commit order.
    public static func pending(_ db: Database, limit: Int) throws -> [Entry] {
        try Row.fetchAll(db, sql: "SELECT id, order_id FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT ?",
                         arguments: [limit]).map { Entry(id: $0[0], orderID: $0[1]) }
    }

    /// Marks every entry up to `lastID` published.
    public static func markSent(_ db: Database, through lastID: Int64, at now: Int64) throws {
        try db.execute(sql: "UPDATE outbox SET sent_at = ? WHERE sent_at IS NULL AND id <= ?", arguments: [now, lastID])
    }

    /// How many entries wait to be published.
    public static func backlog(_ db: Database) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL") ?? 0
    }
}
