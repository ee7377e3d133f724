import CommerceStore

/// The orders table is the outbox: SQLite's one writer commits orders in id order, so an order's
/// position is its id and a sink's cursor the last order id it took (see ``Outbox``).
struct SQLiteOutboxStore: OutboxStore {
    let store: SQLiteStore

    func pending(sink: String, limit: Int) async throws -> (cursor: Int64, entries: [OutboxEntry]) {
        try await store.read { db in
            let cursor = try Outbox.cursor(db, stream: sink)
            let orders = try OrderBook.orders(db, ids: try Outbox.pending(db, after: cursor, limit: limit))
            return (cursor, orders.map { OutboxEntry(position: $0.orderID, order: $0) })
        }
    }

    func markSent(sink: String, through position: Int64, at now: Int64) async throws {
        // Through the group-commit writer: the mark shares the next batch's commit (and fsync).
        try await store.write { try Outbox.markSent($0, stream: sink, through: position, at: now) }
    }

    func rewind(sink: String, to position: Int64, at now: Int64) async throws {
        try await store.write { try Outbox.rewind($0, stream: sink, to: position, at: now) }
    }

    func backlog(sink: String) async throws -> Int {
        try await store.read { try Outbox.backlog($0, stream: sink) }
    }

    func cursor(sink: String) async throws -> Int64 {
        try await store.read { try Outbox.cursor($0, stream: sink) }
    }
}
