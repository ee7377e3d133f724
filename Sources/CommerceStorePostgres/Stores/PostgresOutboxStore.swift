import CommerceStore
import PostgresNIO

/// The orders table is the outbox, and an order's position is the id of the transaction that
/// placed it (`orders.txid`, one order per transaction).
///
/// Why that keeps the commit-order obligation with many writers: order ids come from a sequence
/// and are NOT commit order (a transaction can take id 10, another id 11 and commit first; a
/// reader passing 11 would never see 10). Transaction ids are not commit order either, but every
/// transaction id below the reader's snapshot `xmin` belongs to a transaction that has ended:
/// rows with such a txid are final, and any row still to commit has a txid at or above `xmin`.
/// So ``pending(sink:limit:)`` hands out only rows with `txid < xmin`, by txid: whatever commits
/// later has a larger position than everything handed out, and a cursor never passes it. The
/// price: a long transaction anywhere on the server holds `xmin` back, and with it the relay.
struct PostgresOutboxStore: OutboxStore {
    let store: PostgresStore

    /// The cursor and the ids after it in one statement (a relay asks 50 times a second, mostly
    /// to find nothing), then the orders themselves.
    func pending(sink: String, limit: Int) async throws -> (cursor: Int64, entries: [OutboxEntry]) {
        try await store.connection { connection in
            var cursor: Int64 = 0
            var ids: [Int64] = []
            for row in try await connection.rows("""
                SELECT c.position, o.id
                FROM (SELECT coalesce((SELECT last_position FROM outbox_cursor WHERE stream = \(sink)), 0) AS position) c
                LEFT JOIN LATERAL (
                    SELECT id, txid FROM orders
                    WHERE txid > c.position AND txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
                    ORDER BY txid LIMIT \(Int64(limit))
                ) o ON true
                ORDER BY o.txid
                """) {
                let (position, id) = try row.decode((Int64, Int64?).self)
                cursor = position
                if let id { ids.append(id) }
            }
            return (cursor, try await PostgresOrders.orders(connection, ids: ids))
        }
    }

    func markSent(sink: String, through position: Int64, at now: Int64) async throws {
        try await store.connection { connection in
            try await connection.run("""
                INSERT INTO outbox_cursor AS c (stream, last_position, updated_at) VALUES (\(sink), \(position), \(now))
                ON CONFLICT (stream) DO UPDATE
                    SET last_position = greatest(c.last_position, excluded.last_position), updated_at = excluded.updated_at
                """)
        }
    }

    func rewind(sink: String, to position: Int64, at now: Int64) async throws {
        try await store.connection { connection in
            try await connection.run("""
                UPDATE outbox_cursor SET last_position = \(position), updated_at = \(now)
                WHERE stream = \(sink) AND last_position > \(position)
                """)
        }
    }

    func backlog(sink: String) async throws -> Int {
        try await store.connection { connection in
            let cursor = try await Self.cursor(connection, sink: sink)
            return Int(try await connection.value(Int64.self, "SELECT count(*) FROM orders WHERE txid > \(cursor)") ?? 0)
        }
    }

    func cursor(sink: String) async throws -> Int64 {
        try await store.connection { try await Self.cursor($0, sink: sink) }
    }

    private static func cursor(_ connection: PostgresConnection, sink: String) async throws -> Int64 {
        try await connection.value(Int64.self, "SELECT last_position FROM outbox_cursor WHERE stream = \(sink)") ?? 0
    }
}

struct PostgresSalesStore: SalesStore {
    let store: PostgresStore

    /// The sums over orders whose transactions ended before a horizon (every transaction id
    /// below it), with the horizon − 1 as the position: orders at or above it are still to come
    /// from the outbox (see ``PostgresOutboxStore``). The horizon is read first; a later
    /// statement sees every row below it, so the sums hold exactly those.
    func unitsSold(placedIn range: Range<Int64>) async throws -> (sums: [ItemUnits], lastPosition: Int64) {
        try await store.connection { connection in
            let horizon = try await connection.value(Int64.self, "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")!
            let sums = try await connection.rows("""
                SELECT oi.item_id, sum(oi.quantity)::bigint FROM orders o JOIN order_items oi ON oi.order_id = o.id
                WHERE o.ordered_at >= \(range.lowerBound) AND o.ordered_at < \(range.upperBound) AND o.txid < \(horizon)
                GROUP BY oi.item_id ORDER BY oi.item_id
                """).map { row in
                let (item, units) = try row.decode((Int64, Int64).self)
                return ItemUnits(itemID: item, units: units)
            }
            return (sums, horizon - 1)
        }
    }

    func bestSellers(placedIn range: Range<Int64>, limit: Int) async throws -> [(item: Item, units: Int64)] {
        try await store.connection { connection in
            try await connection.rows("""
                SELECT i.id, i.name, i.price, i.stock, s.units
                FROM (SELECT oi.item_id, sum(oi.quantity)::bigint AS units
                      FROM orders o JOIN order_items oi ON oi.order_id = o.id
                      WHERE o.ordered_at >= \(range.lowerBound) AND o.ordered_at < \(range.upperBound)
                      GROUP BY oi.item_id) s
                JOIN items i ON i.id = s.item_id AND i.deleted_at IS NULL
                ORDER BY s.units DESC, i.id
                LIMIT \(Int64(limit))
                """).map { row in
                let (id, name, price, stock, units) = try row.decode((Int64, String, Int64, Int64, Int64).self)
                return (Item(itemID: id, name: name, price: price, stock: stock), units)
            }
        }
    }
}
