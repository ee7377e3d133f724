import CommerceStore
import PostgresNIO

struct PostgresOrderStore: OrderStore {
    let store: PostgresStore

    func place(_ order: NewOrder, at now: Int64,
               idempotency: IdempotencyRequest<Order>?) async throws -> IdempotentResult<Order> {
        // Without a key the order is one statement, its own transaction: one round trip.
        guard let idempotency else {
            return try await .running { try await store.connection { try await PostgresOrders.place($0, order, at: now) } }
        }
        return try await store.idempotentTransaction(userID: order.userID, at: now, idempotency) {
            try await PostgresOrders.place($0, order, at: now)
        }
    }

    func order(_ orderID: Int64) async throws -> Order? {
        try await store.connection { try await PostgresOrders.orders($0, ids: [orderID]).first?.order }
    }

    func orders(userID: Int64, limit: Int) async throws -> [Order] {
        try await store.connection { connection in
            let ids = try await connection.values(Int64.self, """
                SELECT id FROM orders WHERE user_id = \(userID) ORDER BY id DESC LIMIT \(Int64(limit))
                """)
            return try await PostgresOrders.orders(connection, ids: ids).map(\.order)
        }
    }
}

/// Placing and reading orders. Each function runs inside the caller's transaction.
enum PostgresOrders {
    /// Places a paid order with `place_order` (see ``PostgresSchema``): one statement, all of
    /// it or none. A refusal is thrown as the ``CommerceError`` it raised.
    static func place(_ connection: PostgresConnection, _ request: NewOrder, at now: Int64) async throws -> Order {
        // Lines in item id order: the order items are locked in, stored in and read back in.
        let lines = request.lines.sorted { $0.itemID < $1.itemID }
        let placed: PlaceOrder.Row
        do {
            placed = try await connection.rows(PlaceOrder(userID: request.userID, items: lines.map(\.itemID),
                                                          quantities: lines.map(\.quantity), couponID: request.couponID, now: now))[0]
        } catch let error as PSQLError {
            throw PostgresOrderRefusal(error, now: now)?.refusal ?? error
        }
        let items = zip(lines, zip(placed.names, placed.prices)).map { line, priced in
            OrderLine(itemID: line.itemID, name: priced.0, quantity: line.quantity, unitPrice: priced.1,
                      lineTotal: priced.1 * line.quantity)
        }
        return Order(orderID: placed.orderID, userID: request.userID, status: .paid, items: items, subtotal: placed.subtotal,
                     discount: placed.discount, total: placed.total, couponID: request.couponID, balanceAfter: placed.balanceAfter,
                     orderedAt: Timestamp(milliseconds: now))
    }

    /// The orders with these ids, in the order of `ids` (missing ones left out), with their
    /// lines and outbox positions: two queries however many orders.
    static func orders(_ connection: PostgresConnection, ids: [Int64]) async throws -> [OutboxEntry] {
        guard !ids.isEmpty else { return [] }
        var lines: [Int64: [OrderLine]] = [:]
        for row in try await connection.rows("""
            SELECT order_id, item_id, name, quantity, unit_price, line_total FROM order_items
            WHERE order_id = ANY(\(ids)) ORDER BY order_id, item_id
            """) {
            let (orderID, itemID, name, quantity, unitPrice, lineTotal) = try row.decode((Int64, Int64, String, Int64, Int64, Int64).self)
            lines[orderID, default: []].append(
                OrderLine(itemID: itemID, name: name, quantity: quantity, unitPrice: unitPrice, lineTotal: lineTotal))
        }
        var found: [Int64: OutboxEntry] = [:]
        for row in try await connection.rows("""
            SELECT id, user_id, subtotal, discount, total, coupon_id, balance_after, ordered_at, txid FROM orders
            WHERE id = ANY(\(ids))
            """) {
            let (id, userID, subtotal, discount, total, couponID, balanceAfter, orderedAt, txid) =
                try row.decode((Int64, Int64, Int64, Int64, Int64, Int64?, Int64, Int64, Int64).self)
            found[id] = OutboxEntry(position: txid, order: Order(
                orderID: id, userID: userID, status: .paid, items: lines[id] ?? [], subtotal: subtotal, discount: discount,
                total: total, couponID: couponID, balanceAfter: balanceAfter, orderedAt: Timestamp(milliseconds: orderedAt)))
        }
        return ids.compactMap { found[$0] }
    }
}

/// A refusal `place_order` raised (`P0001`, the contract's code as the message, the numbers as
/// the detail), worded as the SQLite driver words it.
struct PostgresOrderRefusal {
    let refusal: CommerceError

    init?(_ error: PSQLError, now: Int64) {
        guard error.code == .server, error.serverInfo?[.sqlState] == "P0001", let code = error.serverInfo?[.message] else { return nil }
        let numbers = (error.serverInfo?[.detail] ?? "").split(separator: ",").compactMap { Int64($0) }
        let list = numbers.map(String.init).joined(separator: ", ")
        switch (code, numbers.count) {
        case ("ITEM_NOT_FOUND", _):
            refusal = CommerceError(.itemNotFound, "no such item: \(list)")
        case ("INSUFFICIENT_STOCK", _):
            refusal = CommerceError(.insufficientStock, "not enough stock for item \(list)")
        case ("COUPON_NOT_OWNED", 2):
            refusal = CommerceError(.couponNotOwned, "user \(numbers[0]) does not hold coupon \(numbers[1])")
        case ("COUPON_ALREADY_USED", 1):
            refusal = CommerceError(.couponAlreadyUsed, "coupon \(numbers[0]) was already used")
        case ("COUPON_EXPIRED", 3):
            refusal = CommerceError(.couponExpired, now < numbers[1]
                ? "coupon \(numbers[0]) is valid from \(Timestamp(milliseconds: numbers[1]))"
                : "coupon \(numbers[0]) expired at \(Timestamp(milliseconds: numbers[2]))")
        case ("INSUFFICIENT_BALANCE", 3):
            refusal = CommerceError(.insufficientBalance, "the order costs \(numbers[0]) but user \(numbers[1]) has \(numbers[2]) points")
        default:
            return nil
        }
    }
}
