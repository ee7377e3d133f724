import CommerceStore

/// The orders table is the outbox: SQLite's one writer commits orders in id order, so a sink's
/// cursor is the last order id it took (see ``Outbox``).
struct SQLiteOutboxStore: OutboxStore {
    let store: SQLiteStore

    func pending(sink: String, limit: Int) async throws -> (cursor: Int64, orders: [Order]) {
        try await store.read { db in
            let cursor = try Outbox.cursor(db, stream: sink)
            return (cursor, try OrderBook.orders(db, ids: try Outbox.pending(db, after: cursor, limit: limit)))
        }
    }

    func markSent(sink: String, through lastOrderID: Int64, at now: Int64) async throws {
        // Through the group-commit writer: the mark shares the next batch's commit (and fsync).
        try await store.write { try Outbox.markSent($0, stream: sink, through: lastOrderID, at: now) }
    }

    func rewind(sink: String, to lastOrderID: Int64, at now: Int64) async throws {
        try await store.write { try Outbox.rewind($0, stream: sink, to: lastOrderID, at: now) }
    }

    func backlog(sink: String) async throws -> Int {
        try await store.read { try Outbox.backlog($0, stream: sink) }
    }

    func cursor(sink: String) async throws -> Int64 {
        try await store.read { try Outbox.cursor($0, stream: sink) }
    }
}
