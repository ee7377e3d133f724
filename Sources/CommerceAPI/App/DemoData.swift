import CommerceStore
import CouponGate
import Foundation
import GRDB
import RedisClient

/// Sample items, coupons and users so every route has something to show (`commerce seed --demo`).
/// Idempotent: a second run finds the demo rows and adds nothing.
public enum DemoData {
    public struct Summary: Sendable {
        /// False when the database already had data, so nothing was added.
        public var added: Bool
        public var items: Int
        public var coupons: Int
        public var users: Int
        public var orders: Int
    }

    static let items: [(name: String, price: Int64, stock: Int64)] = [
        ("Wireless earbuds", 89_000, 120), ("Mechanical keyboard", 129_000, 40),
        ("USB-C charger 65W", 39_000, 300), ("Laptop stand", 45_000, 75),
        ("Coffee beans 1kg", 28_000, 500), ("Water bottle", 15_000, 1_000),
        ("Desk lamp", 52_000, 60), ("Notebook set", 9_000, 2_000),
    ]

    static let coupons: [(name: String, type: String, value: Int64, stock: Int64)] = [
        ("Flash sale 5,000 won off", "FIXED", 5_000, 1_000),
        ("Welcome 10% off", "PERCENT", 10, 100_000),
    ]

    /// Orders placed `daysAgo` days before the seed: item ids (1-based, as created) and quantities.
    static let orders: [(daysAgo: Int64, lines: [(item: Int64, quantity: Int64)])] = [
        (2, [(5, 3), (8, 4)]), (2, [(1, 1)]), (1, [(5, 2), (3, 1)]), (1, [(8, 2), (6, 1)]),
        (0, [(3, 2), (1, 1)]), (0, [(7, 1), (5, 1)]),
    ]

    /// Users 1 to 3, each charged 500,000 points (with its ledger entry); the orders are theirs.
    static let users: [Int64] = [1, 2, 3]
    static let startingBalance: Int64 = 500_000

    public static func seed(database: CommerceDatabase, redis: RedisClient, now: Date = Date()) async throws -> Summary {
        let nowMs = Int64(now.timeIntervalSince1970 * 1000)
        let (added, published) = try await database.pool.write { db -> (Bool, [(CouponTerms, Int64)]) in
            let alreadySeeded = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM items") ?? 0 > 0
            if !alreadySeeded {
                for item in items {
                    _ = try ItemCatalog.create(db, name: item.name, price: item.price, stock: item.stock, at: nowMs)
                }
                for coupon in coupons {
                    try db.execute(sql: """
                        INSERT INTO coupons (name, discount_type, discount_value, stock, valid_from, valid_until, created_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?)
                        """, arguments: [coupon.name, coupon.type, coupon.value, coupon.stock,
                                         nowMs - 3_600_000, nowMs + 30 * 86_400_000, nowMs])
                }
                for user in users {
                    _ = try PointLedger.charge(db, userID: user, amount: startingBalance, at: nowMs)
                }
                // Sales over the last three days, so `GET /items/popular` has a list to show (the
                // ranking relay counts them when the server starts).
                for (index, order) in orders.enumerated() {
                    let lines = order.lines.map { OrderRequest.Line(itemID: $0.item, quantity: $0.quantity) }
                    _ = try OrderBook.place(db, OrderRequest(userID: users[index % users.count], lines: lines, couponID: nil),
                                            at: nowMs - order.daysAgo * 86_400_000)
                }
            }
            let coupons = try Row.fetchAll(db, sql: """
                SELECT c.id, c.stock, c.valid_from, c.valid_until,
                       (SELECT COUNT(*) FROM user_coupons u WHERE u.coupon_id = c.id) AS issued
                FROM coupons c
                """).map { row in
                (CouponTerms(couponID: row["id"], stock: row["stock"],
                             validFrom: row["valid_from"], validUntil: row["valid_until"]),
                 row["issued"] as Int64)
            }
            return (!alreadySeeded, coupons)
        }
        let registry = CouponRegistry(redis: redis)
        for (terms, issued) in published {
            try await registry.publish(terms, alreadyIssued: issued)
        }
        return Summary(added: added, items: items.count, coupons: published.count, users: users.count, orders: orders.count)
    }
}
