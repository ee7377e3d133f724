import CommerceStore
import PostgresNIO

struct PostgresOrderStore: OrderStore {
    let store: PostgresStore

    func place(_ order: NewOrder, at now: Int64,
               idempotency: IdempotencyRequest<Order>?) async throws -> IdempotentResult<Order> {
        try await store.idempotentTransaction(userID: order.userID, at: now, idempotency) {
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
    /// Places a paid order: stock taken line by line in item id order (the order every
    /// transaction locks items in, so two orders never deadlock on them), the coupon checked,
    /// the balance debited, then the order, its lines and its `USE` entry in one statement.
    /// Throws a ``CommerceError`` (the caller rolls back) on any refusal.
    static func place(_ connection: PostgresConnection, _ request: NewOrder, at now: Int64) async throws -> Order {
        let lines = try await takeStock(connection, request.lines.sorted { $0.itemID < $1.itemID }, at: now)
        let subtotal = lines.reduce(0) { $0 + $1.lineTotal }
        var coupon: PostgresCouponUse?
        if let couponID = request.couponID {
            coupon = try await PostgresCouponUse.find(connection, userID: request.userID, couponID: couponID, at: now)
        }
        let discount = coupon?.discount(on: subtotal) ?? 0
        let total = subtotal - discount
        let balanceAfter: Int64
        if total > 0 {
            balanceAfter = try await PostgresPoints.debit(connection, userID: request.userID, amount: total, at: now)
        } else {
            // A free order (a coupon covering everything) moves no points and needs no balance.
            try await PostgresPoints.ensureUser(connection, userID: request.userID, at: now)
            balanceAfter = try await PostgresPoints.balance(connection, userID: request.userID).balance
        }
        // The order row takes its transaction's id as its outbox position (the column default).
        let orderID = try await connection.value(Int64.self, """
            WITH placed AS (
                INSERT INTO orders (user_id, status, subtotal, discount, total, coupon_id, balance_after, ordered_at)
                VALUES (\(request.userID), 'PAID', \(subtotal), \(discount), \(total), \(request.couponID), \(balanceAfter), \(now))
                RETURNING id
            ), lines AS (
                INSERT INTO order_items (order_id, item_id, name, quantity, unit_price, line_total)
                SELECT placed.id, l.item_id, l.name, l.quantity, l.unit_price, l.line_total
                FROM placed, unnest(\(lines.map(\.itemID)), \(lines.map(\.name)), \(lines.map(\.quantity)),
                                    \(lines.map(\.unitPrice)), \(lines.map(\.lineTotal)))
                    AS l(item_id, name, quantity, unit_price, line_total)
            ), ledger AS (
                INSERT INTO point_history (user_id, kind, amount, balance_after, order_id, created_at)
                SELECT \(request.userID), 'USE', \(-total), \(balanceAfter), placed.id, \(now) FROM placed WHERE \(total) > 0
            )
            SELECT id FROM placed
            """)!
        try await coupon?.markUsed(connection, orderID: orderID, at: now)
        return Order(orderID: orderID, userID: request.userID, status: .paid, items: lines, subtotal: subtotal,
                     discount: discount, total: total, couponID: request.couponID, balanceAfter: balanceAfter,
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

    /// Takes each line's quantity from its live item's stock (conditionally: never below 0) and
    /// prices the line. `ITEM_NOT_FOUND` naming every missing item, else `INSUFFICIENT_STOCK`
    /// naming every item short.
    private static func takeStock(_ connection: PostgresConnection, _ requested: [NewOrder.Line], at now: Int64) async throws -> [OrderLine] {
        var lines: [OrderLine] = []
        var notTaken: [Int64] = []
        for line in requested {
            if let row = try await connection.rows("""
                UPDATE items SET stock = stock - \(line.quantity), updated_at = \(now)
                WHERE id = \(line.itemID) AND deleted_at IS NULL AND stock >= \(line.quantity)
                RETURNING name, price
                """).first {
                let (name, price) = try row.decode((String, Int64).self)
                lines.append(OrderLine(itemID: line.itemID, name: name, quantity: line.quantity,
                                       unitPrice: price, lineTotal: price * line.quantity))
            } else {
                notTaken.append(line.itemID)
            }
        }
        guard !notTaken.isEmpty else { return lines }
        let live = try await PostgresItems.live(connection, notTaken)
        let missing = notTaken.filter { live[$0] == nil }
        if !missing.isEmpty {
            throw CommerceError(.itemNotFound, "no such item: \(missing.map(String.init).joined(separator: ", "))")
        }
        throw CommerceError(.insufficientStock, "not enough stock for item \(notTaken.map(String.init).joined(separator: ", "))")
    }
}

/// A coupon a user holds, about to be used on an order.
struct PostgresCouponUse {
    let userCouponID: Int64
    let discountType: DiscountType
    let discountValue: Int64

    /// The user's coupon, checked usable at `now`: `COUPON_NOT_OWNED` (also for a coupon that
    /// does not exist), `COUPON_ALREADY_USED`, `COUPON_EXPIRED` (outside its validity).
    static func find(_ connection: PostgresConnection, userID: Int64, couponID: Int64, at now: Int64) async throws -> PostgresCouponUse {
        guard let row = try await connection.rows("""
            SELECT uc.id, uc.used_at, c.discount_type, c.discount_value, c.valid_from, c.valid_until
            FROM user_coupons uc JOIN coupons c ON c.id = uc.coupon_id
            WHERE uc.user_id = \(userID) AND uc.coupon_id = \(couponID)
            """).first else {
            throw CommerceError(.couponNotOwned, "user \(userID) does not hold coupon \(couponID)")
        }
        let (id, usedAt, typeName, value, validFrom, validUntil) = try row.decode((Int64, Int64?, String, Int64, Int64, Int64).self)
        guard let type = DiscountType(rawValue: typeName) else {
            throw CommerceError(.couponNotOwned, "user \(userID) does not hold coupon \(couponID)")
        }
        guard usedAt == nil else { throw CommerceError(.couponAlreadyUsed, "coupon \(couponID) was already used") }
        guard validFrom <= now && now <= validUntil else {
            throw CommerceError(.couponExpired, now < validFrom
                ? "coupon \(couponID) is valid from \(Timestamp(milliseconds: validFrom))"
                : "coupon \(couponID) expired at \(Timestamp(milliseconds: validUntil))")
        }
        return PostgresCouponUse(userCouponID: id, discountType: type, discountValue: value)
    }

    func discount(on subtotal: Int64) -> Int64 {
        discountType.discount(discountValue, on: subtotal)
    }

    /// Marks the coupon used, conditionally: a concurrent order that used it first wins.
    func markUsed(_ connection: PostgresConnection, orderID: Int64, at now: Int64) async throws {
        let marked = try await connection.rows("""
            UPDATE user_coupons SET used_at = \(now), order_id = \(orderID) WHERE id = \(userCouponID) AND used_at IS NULL RETURNING 1
            """)
        guard !marked.isEmpty else { throw CommerceError(.couponAlreadyUsed, "the coupon was already used") }
    }
}
