import CommerceStore
import GRDB

/// Placing and reading orders.
enum OrderBook {
    /// Places a paid order inside the caller's transaction: stock decrements, the coupon's use,
    /// the balance decrement with its `USE` entry, the order and its lines (whose id puts it in
    /// the ``Outbox``). Throws a ``CommerceError`` (and the caller's savepoint undoes whatever
    /// was done) when an item is missing, short of stock, the coupon is unusable or the balance
    /// too small.
    static func place(_ db: Database, _ request: NewOrder, at now: Int64) throws -> Order {
        // Lines in item id order: the order in which they are stored and read back.
        let lines = try takeStock(db, request.lines.sorted { $0.itemID < $1.itemID }, at: now)
        let subtotal = lines.reduce(0) { $0 + $1.lineTotal }
        let coupon = try request.couponID.map { try CouponUse.find(db, userID: request.userID, couponID: $0, at: now) }
        let discount = coupon?.discount(on: subtotal) ?? 0
        let total = subtotal - discount

        let balanceAfter: Int64
        if total > 0 {
            balanceAfter = try PointLedger.debit(db, userID: request.userID, amount: total, at: now)
        } else {
            // A free order (a coupon covering everything) moves no points and needs no balance.
            try PointLedger.ensureUser(db, userID: request.userID, at: now)
            balanceAfter = try PointLedger.balance(db, userID: request.userID).balance
        }
        try db.cachedStatement(sql: """
            INSERT INTO orders (user_id, status, subtotal, discount, total, coupon_id, balance_after, ordered_at)
            VALUES (?, 'PAID', ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [request.userID, subtotal, discount, total, request.couponID, balanceAfter, now])
        let orderID = db.lastInsertedRowID
        if total > 0 {
            try PointLedger.recordUse(db, userID: request.userID, amount: total, balanceAfter: balanceAfter, orderID: orderID, at: now)
        }
        let insertLine = try db.cachedStatement(sql: """
            INSERT INTO order_items (order_id, item_id, name, quantity, unit_price, line_total) VALUES (?, ?, ?, ?, ?, ?)
            """)
        for line in lines {
            try insertLine.execute(arguments: [orderID, line.itemID, line.name, line.quantity, line.unitPrice, line.lineTotal])
        }
        try coupon?.markUsed(db, orderID: orderID, at: now)
        return Order(orderID: orderID, userID: request.userID, status: .paid, items: lines, subtotal: subtotal,
                     discount: discount, total: total, couponID: request.couponID, balanceAfter: balanceAfter,
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

    /// Takes each line's quantity from its live item's stock and prices the line, one statement
    /// per line. Throws `ITEM_NOT_FOUND` naming every missing item, else `INSUFFICIENT_STOCK`
    /// naming every item short of stock (the caller's savepoint undoes the decrements).
    private static func takeStock(_ db: Database, _ requested: [NewOrder.Line], at now: Int64) throws -> [OrderLine] {
        let take = try db.cachedStatement(sql: """
            UPDATE items SET stock = stock - ?1, updated_at = ?2 WHERE id = ?3 AND deleted_at IS NULL AND stock >= ?1
            RETURNING name, price
            """)
        var lines: [OrderLine] = []
        var missing: [Int64] = []
        var short: [Int64] = []
        for line in requested {
            if let row = try Row.fetchOne(take, arguments: [line.quantity, now, line.itemID]) {
                let price: Int64 = row[1]
                lines.append(OrderLine(itemID: line.itemID, name: row[0], quantity: line.quantity,
                                       unitPrice: price, lineTotal: price * line.quantity))
            } else if try ItemCatalog.find(db, itemID: line.itemID) == nil {
                missing.append(line.itemID)
            } else {
                short.append(line.itemID)
            }
        }
        if !missing.isEmpty {
            throw CommerceError(.itemNotFound, "no such item: \(missing.map(String.init).joined(separator: ", "))")
        }
        if !short.isEmpty { throw shortOfStock(short) }
        return lines
    }

    private static func shortOfStock(_ itemIDs: [Int64]) -> CommerceError {
        CommerceError(.insufficientStock,
                      "not enough stock for item \(itemIDs.map(String.init).joined(separator: ", "))")
    }
}
