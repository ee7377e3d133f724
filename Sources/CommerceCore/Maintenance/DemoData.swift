import CommerceStore
import CouponGate
import Foundation
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

    static let coupons: [(name: String, type: DiscountType, value: Int64, stock: Int64)] = [
        ("Flash sale 5,000 won off", .fixed, 5_000, 1_000),
        ("Welcome 10% off", .percent, 10, 100_000),
    ]

    /// Orders placed `daysAgo` days before the seed: item ids (1-based, as created) and quantities.
    static let orders: [(daysAgo: Int64, lines: [(item: Int64, quantity: Int64)])] = [
        (2, [(5, 3), (8, 4)]), (2, [(1, 1)]), (1, [(5, 2), (3, 1)]), (1, [(8, 2), (6, 1)]),
        (0, [(3, 2), (1, 1)]), (0, [(7, 1), (5, 1)]),
    ]

    /// Users 1 to 3, each charged 500,000 points (with its ledger entry); the orders are theirs.
    static let users: [Int64] = [1, 2, 3]
    static let startingBalance: Int64 = 500_000

    /// Adds the demo data through the store (which must be running, see
    /// ``StoreDriver/whileRunning(_:)``), coupons created as the admin route creates them
    /// (``CouponCreation``); when the store has items already, nothing is added and every coupon
    /// is published to Redis again with its issued count.
    public static func seed(store: any StoreDriver, redis: any RedisClient, now: Date = Date()) async throws -> Summary {
        let nowMs = Timestamp(now).milliseconds
        let alreadySeeded = try await !store.items.page(afterID: 0, limit: 1).isEmpty
        if !alreadySeeded {
            for item in items {
                _ = try await store.items.create(name: item.name, price: item.price, stock: item.stock, at: nowMs)
            }
            let creation = CouponCreation(store: store.coupons, redis: redis)
            for coupon in coupons {
                _ = try await creation.create(NewCoupon(
                    name: coupon.name, discountType: coupon.type, discountValue: coupon.value, stock: coupon.stock,
                    validFrom: Timestamp(milliseconds: nowMs - 3_600_000),
                    validUntil: Timestamp(milliseconds: nowMs + 30 * 86_400_000)), at: nowMs)
            }
            for user in users {
                _ = try await store.points.charge(userID: user, amount: startingBalance, at: nowMs, idempotency: nil)
            }
            // Sales over the last three days, so `GET /items/popular` has a list to show (the
            // ranking relay counts them when the server starts).
            for (index, order) in orders.enumerated() {
                let lines = order.lines.map { NewOrder.Line(itemID: $0.item, quantity: $0.quantity) }
                _ = try await store.orders.place(NewOrder(userID: users[index % users.count], lines: lines, couponID: nil),
                                                 at: nowMs - order.daysAgo * 86_400_000, idempotency: nil)
            }
        }
        guard alreadySeeded else {
            return Summary(added: true, items: items.count, coupons: coupons.count, users: users.count, orders: orders.count)
        }
        // Already there (a Redis that was replaced since, say): each coupon published again with
        // what the store counts issued.
        let registry = CouponRegistry(redis: redis)
        var published = 0
        var afterID: Int64 = 0
        while true {
            let page = try await store.coupons.page(afterID: afterID, limit: 100)
            guard let last = page.last else { break }
            for coupon in page {
                try await registry.publish(CouponTerms(coupon), alreadyIssued: try await store.coupons.issuedCount(couponID: coupon.couponID))
                published += 1
            }
            afterID = last.couponID
        }
        return Summary(added: false, items: items.count, coupons: published, users: users.count, orders: orders.count)
    }
}
