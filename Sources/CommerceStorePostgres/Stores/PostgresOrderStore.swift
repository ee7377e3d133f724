import CommerceStore
import PostgresNIO

struct PostgresOrderStore: OrderStore {
    let store: PostgresStore

    /// Quoted and carried out on one connection: one lease, two statements (with a key, inside
    /// the key's transaction).
    func place(_ order: NewOrder, at now: Int64,
               idempotency: IdempotencyRequest<Order>?) async throws -> IdempotentResult<Order> {
        try await OrderPricing.retryingStaleQuotes {
            try await write(userID: order.userID, at: now, idempotency) { connection in
                let plan = OrderPricing.plan(order, quote: try await PostgresOrders.quote(connection, order), at: now)
                return try await PostgresOrders.carryOut(connection, plan.outcome.get(), at: now)
            }
        }
    }

    func quote(_ order: NewOrder) async throws -> OrderQuote {
        try await store.connection { try await PostgresOrders.quote($0, order) }
    }

    func carryOut(_ plan: OrderPlan, at now: Int64,
                  idempotency: IdempotencyRequest<Order>?) async throws -> IdempotentResult<Order> {
        try await write(userID: plan.userID, at: now, idempotency) { try await PostgresOrders.carryOut($0, plan.outcome.get(), at: now) }
    }

    /// Without a key each statement is its own transaction; with one, all of them and the key's
    /// answer are one.
    private func write(userID: Int64, at now: Int64, _ idempotency: IdempotencyRequest<Order>?,
                       _ body: @escaping @Sendable (PostgresConnection) async throws -> Order) async throws -> IdempotentResult<Order> {
        guard let idempotency else { return try await .running { try await store.connection(body) } }
        return try await store.idempotentTransaction(userID: userID, at: now, idempotency, body)
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
    /// What pricing the order needs, in one statement (``QuoteOrder``, one snapshot): a row per live item
    /// ordered (one with a NULL item when none is), each with the user's balance and hold of
    /// the coupon.
    static func quote(_ connection: PostgresConnection, _ order: NewOrder) async throws -> OrderQuote {
        let rows = try await connection.rows(QuoteOrder(userID: order.userID, couponID: order.couponID, items: order.lines.map(\.itemID)))
        var quote = OrderQuote(items: [], coupon: nil, balance: 0)
        for row in rows {
            let (id, name, price, stock, balance, used, type, value, validFrom, validUntil, version) = row
            quote.balance = balance
            if let id, let name, let price, let stock {
                quote.items.append(Item(itemID: id, name: name, price: price, stock: stock))
            }
            if let couponID = order.couponID, let used, let type = type.flatMap(DiscountType.init(rawValue:)), let value,
               let validFrom, let validUntil, let version {
                quote.coupon = OrderQuote.HeldCoupon(couponID: couponID, discountType: type, discountValue: value, validFrom: validFrom,
                                                     validUntil: validUntil, termsVersion: version, used: used)
            }
        }
        return quote
    }

    /// Writes a priced order with `carry_out_order` (see ``PostgresSchema``): one statement,
    /// all of it or none; ``OrderQuoteStale`` when the quote no longer holds.
    static func carryOut(_ connection: PostgresConnection, _ order: PricedOrder, at now: Int64) async throws -> Order {
        let written: CarryOutOrder.Row
        do {
            written = try await connection.rows(CarryOutOrder(order: order, now: now))[0]
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "P0001" && error.serverInfo?[.message] == "ORDER_QUOTE_STALE" {
            throw OrderQuoteStale()
        }
        return Order(orderID: written.orderID, userID: order.userID, status: .paid, items: order.lines, subtotal: order.subtotal,
                     discount: order.discount, total: order.total, couponID: order.couponID, balanceAfter: written.balanceAfter,
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
