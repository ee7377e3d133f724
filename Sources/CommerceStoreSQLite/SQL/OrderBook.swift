import CommerceStore
import GRDB

/// Placing and reading orders.
enum OrderBook {
    /// What pricing the order needs, read in one snapshot (the caller's transaction): its live
    /// items, the user's hold of the coupon with the coupon's terms, the user's balance.
    static func quote(_ db: Database, _ order: NewOrder) throws -> OrderQuote {
        // One cached statement per line: this runs on the writer, once per order.
        let find = try db.cachedStatement(sql: "SELECT id, name, price, stock FROM items WHERE id = ? AND deleted_at IS NULL")
        let items = try order.lines.compactMap { line in
            try Row.fetchOne(find, arguments: [line.itemID]).map { Item(itemID: $0[0], name: $0[1], price: $0[2], stock: $0[3]) }
        }
        var coupon: OrderQuote.HeldCoupon?
        if let couponID = order.couponID, let row = try Row.fetchOne(db.cachedStatement(sql: """
            SELECT uc.used_at IS NOT NULL, c.discount_type, c.discount_value, c.valid_from, c.valid_until, c.terms_version
            FROM user_coupons uc JOIN coupons c ON c.id = uc.coupon_id WHERE uc.user_id = ? AND uc.coupon_id = ?
            """), arguments: [order.userID, couponID]), let type = DiscountType(rawValue: row[1]) {
            coupon = OrderQuote.HeldCoupon(couponID: couponID, discountType: type, discountValue: row[2], validFrom: row[3],
                                           validUntil: row[4], termsVersion: row[5], used: row[0])
        }
        return OrderQuote(items: items, coupon: coupon, balance: try PointLedger.balance(db, userID: order.userID).balance)
    }

    /// Writes a priced order inside the caller's transaction while its quote holds (see
    /// ``OrderStore/carryOut(_:at:idempotency:)``): stock decrements, the balance decrement with
    /// its `USE` entry, the order and its lines (whose id puts it in the ``Outbox``), the
    /// coupon's use. Throws ``OrderQuoteStale`` when a condition fails (the caller's savepoint
    /// undoes whatever was done).
    static func carryOut(_ db: Database, _ order: PricedOrder, at now: Int64) throws -> Order {
        let take = try db.cachedStatement(sql: """
            UPDATE items SET stock = stock - ?1, updated_at = ?2 WHERE id = ?3 AND deleted_at IS NULL AND stock >= ?1 AND price = ?4
            """)
        for line in order.lines {
            try take.execute(arguments: [line.quantity, now, line.itemID, line.unitPrice])
            guard db.changesCount == 1 else { throw OrderQuoteStale() }
        }
        let balanceAfter: Int64
        if order.total > 0 {
            guard let balance = try PointLedger.debit(db, userID: order.userID, amount: order.total, at: now) else {
                throw OrderQuoteStale()
            }
            balanceAfter = balance
        } else {
            // A free order (a coupon covering everything) moves no points and needs no balance.
            try PointLedger.ensureUser(db, userID: order.userID, at: now)
            balanceAfter = try PointLedger.balance(db, userID: order.userID).balance
        }
        try db.cachedStatement(sql: """
            INSERT INTO orders (user_id, status, subtotal, discount, total, coupon_id, balance_after, ordered_at)
            VALUES (?, 'PAID', ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [order.userID, order.subtotal, order.discount, order.total, order.couponID, balanceAfter, now])
        let orderID = db.lastInsertedRowID
        if order.total > 0 {
            try PointLedger.recordUse(db, userID: order.userID, amount: order.total, balanceAfter: balanceAfter, orderID: orderID, at: now)
        }
        let insertLine = try db.cachedStatement(sql: """
            INSERT INTO order_items (order_id, item_id, name, quantity, unit_price, line_total) VALUES (?, ?, ?, ?, ?, ?)
            """)
        for line in order.lines {
            try insertLine.execute(arguments: [orderID, line.itemID, line.name, line.quantity, line.unitPrice, line.lineTotal])
        }
        if let couponID = order.couponID {
            try db.cachedStatement(sql: """
                UPDATE user_coupons SET used_at = ?1, order_id = ?2
                WHERE user_id = ?3 AND coupon_id = ?4 AND used_at IS NULL
                AND (SELECT terms_version FROM coupons WHERE id = ?4) = ?5
                """).execute(arguments: [now, orderID, order.userID, couponID, order.couponTermsVersion])
            guard db.changesCount == 1 else { throw OrderQuoteStale() }
        }
        return Order(orderID: orderID, userID: order.userID, status: .paid, items: order.lines, subtotal: order.subtotal,
                     discount: order.discount, total: order.total, couponID: order.couponID, balanceAfter: balanceAfter,
                     orderedAt: Timestamp(milliseconds: now))
    }

    /// The order with this id, or nil.
    static func find(_ db: Database, orderID: Int64) throws -> Order? {
        try orders(db, ids: [orderID]).first
    }

    /// The user's latest `limit` orders, newest first.
    static func list(_ db: Database, userID: Int64, limit: Int) throws -> [Order] {
        let ids = try Int64.fetchAll(db, sql: "SELECT id FROM orders WHERE user_id = ? ORDER BY id DESC LIMIT ?",
                                     arguments: [userID, limit])
        return try orders(db, ids: ids)
    }

    /// The orders with these ids, in the order of `ids` (missing ones left out), with their lines:
    /// two queries however many orders.
    static func orders(_ db: Database, ids: [Int64]) throws -> [Order] {
        guard !ids.isEmpty else { return [] }
        let placeholders = databaseQuestionMarks(count: ids.count)
        var lines: [Int64: [OrderLine]] = [:]
        for row in try Row.fetchAll(db, sql: """
            SELECT order_id, item_id, name, quantity, unit_price, line_total FROM order_items
            WHERE order_id IN (\(placeholders)) ORDER BY order_id, item_id
            """, arguments: StatementArguments(ids)) {
            lines[row[0], default: []].append(
                OrderLine(itemID: row[1], name: row[2], quantity: row[3], unitPrice: row[4], lineTotal: row[5]))
        }
        var orders: [Int64: Order] = [:]
        for row in try Row.fetchAll(db, sql: """
            SELECT id, user_id, subtotal, discount, total, coupon_id, balance_after, ordered_at FROM orders
            WHERE id IN (\(placeholders))
            """, arguments: StatementArguments(ids)) {
            let id: Int64 = row[0]
            orders[id] = Order(orderID: id, userID: row[1], status: .paid, items: lines[id] ?? [], subtotal: row[2],
                               discount: row[3], total: row[4], couponID: row[5], balanceAfter: row[6],
                               orderedAt: Timestamp(milliseconds: row[7]))
        }
        return ids.compactMap { orders[$0] }
    }
}
