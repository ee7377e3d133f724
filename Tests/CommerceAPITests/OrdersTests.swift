@testable import CommerceStoreSQLite
import Foundation
import GRDB
import HTTPTypes
import Testing

@Suite(.alsoOn(.postgres)) struct OrdersTests {
    @Test func aPaidOrderTakesStockAndPointsAndIsRecordedWhole() async throws {
        try await withTestApp { app async throws in
            let lamp = try await app.createItem(name: "Lamp", price: 12000, stock: 57)
            let pen = try await app.createItem(name: "Pen", price: 1500, stock: 10)
            try await app.charge(user: 1, 50000)

            let placed = try await app.client.call(.post, "/orders",
                #"{"user_id": 1, "items": [{"item_id": \#(pen), "quantity": 4}, {"item_id": \#(lamp), "quantity": 2}]}"#)
            #expect(placed.status == .created)
            let order = placed.json
            let orderID = try #require(order["order_id"] as? Int)
            #expect(order["user_id"] as? Int == 1)
            #expect(order["status"] as? String == "PAID")
            #expect(order["subtotal"] as? Int == 30000)
            #expect(order["discount"] as? Int == 0)
            #expect(order["total"] as? Int == 30000)
            #expect(order["coupon_id"] is NSNull)
            #expect(order["balance_after"] as? Int == 20000)
            #expect((order["ordered_at"] as? String)?.hasSuffix("Z") == true)
            let lines = order["items"] as? [[String: Any]] ?? []
            #expect(lines.count == 2)
            let lampLine = try #require(lines.first { $0["item_id"] as? Int == Int(lamp) })
            #expect(lampLine["name"] as? String == "Lamp")
            #expect(lampLine["quantity"] as? Int == 2)
            #expect(lampLine["unit_price"] as? Int == 12000)
            #expect(lampLine["line_total"] as? Int == 24000)

            #expect(try await app.stock(of: lamp) == 55)
            #expect(try await app.stock(of: pen) == 6)
            #expect(try await app.balance(of: 1) == 20000)
            let entries = try await app.client.call(.get, "/points/history?user_id=1").json["entries"] as? [[String: Any]] ?? []
            #expect(entries.first?["kind"] as? String == "USE")
            #expect(entries.first?["amount"] as? Int == -30000)
            #expect(entries.first?["balance_after"] as? Int == 20000)
            #expect(entries.first?["order_id"] as? Int == orderID)
            #expect(try await app.ledgerSum(of: 1) == 20000)

            let fetched = try await app.client.call(.get, "/orders/\(orderID)")
            #expect(fetched.status == .ok)
            #expect(fetched.text == placed.text)
        }
    }

    @Test func ordersAreListedNewestFirstPerUser() async throws {
        try await withTestApp { app async throws in
            let item = try await app.createItem(price: 100, stock: 100)
            try await app.charge(user: 1, 10000)
            try await app.charge(user: 2, 10000)
            var mine: [Int] = []
            for quantity in 1...3 {
                let reply = try await app.client.call(.post, "/orders", #"{"user_id": 1, "items": [{"item_id": \#(item), "quantity": \#(quantity)}]}"#)
                mine.append(try #require(reply.json["order_id"] as? Int))
                _ = try await app.client.call(.post, "/orders", #"{"user_id": 2, "items": [{"item_id": \#(item), "quantity": 1}]}"#)
            }
            let listed = try await app.client.call(.get, "/orders?user_id=1").json["orders"] as? [[String: Any]] ?? []
            #expect(listed.compactMap { $0["order_id"] as? Int } == mine.reversed())
            #expect(listed.allSatisfy { $0["user_id"] as? Int == 1 && ($0["items"] as? [Any])?.count == 1 })
            let limited = try await app.client.call(.get, "/orders?user_id=1&limit=2").json["orders"] as? [[String: Any]] ?? []
            #expect(limited.compactMap { $0["order_id"] as? Int } == [mine[2], mine[1]])
            #expect((try await app.client.call(.get, "/orders?user_id=3").json["orders"] as? [Any])?.isEmpty == true)
            let missing = try await app.client.call(.get, "/orders/99999")
            #expect(missing.status == .notFound)
            #expect(missing.code == "ORDER_NOT_FOUND")
        }
    }

    @Test func malformedOrdersAre400NamingTheField() async throws {
        try await withTestApp { app async throws in
            let item = try await app.createItem(price: 100, stock: 100)
            try await app.charge(user: 1, 10000)
            let fiftyOne = (1...51).map { #"{"item_id": \#($0), "quantity": 1}"# }.joined(separator: ",")
            let cases: [(String, String)] = [
                (#"{"user_id": 1, "items": []}"#, "`items`"),
                (#"{"user_id": 1, "items": [\#(fiftyOne)]}"#, "`items`"),
                (#"{"user_id": 1, "items": [{"item_id": \#(item), "quantity": 0}]}"#, "`items[0].quantity`"),
                (#"{"user_id": 1, "items": [{"item_id": \#(item), "quantity": 1001}]}"#, "`items[0].quantity`"),
                (#"{"user_id": 1, "items": [{"item_id": \#(item), "quantity": 1}, {"item_id": \#(item), "quantity": 2}]}"#, "`items[1].item_id`"),
                (#"{"user_id": 1, "items": [{"item_id": 0, "quantity": 1}]}"#, "`items[0].item_id`"),
                (#"{"user_id": 1, "items": [{"quantity": 1}]}"#, "`items[0].item_id`"),
                (#"{"user_id": 1, "items": [{"item_id": \#(item), "quantity": 2.5}]}"#, "`items[0].quantity`"),
                (#"{"user_id": 0, "items": [{"item_id": \#(item), "quantity": 1}]}"#, "`user_id`"),
                (#"{"user_id": 1, "items": [{"item_id": \#(item), "quantity": 1}], "coupon_id": -1}"#, "`coupon_id`"),
                (#"{"user_id": 1, "items": {"item_id": 1}}"#, "`items`"),
            ]
            for (body, field) in cases {
                let reply = try await app.client.call(.post, "/orders", body)
                #expect(reply.status == .badRequest, "\(body)")
                #expect(reply.code == "INVALID_REQUEST")
                #expect(reply.detail.contains(field), "\(body): \(reply.detail)")
            }
            for uri in ["/orders/abc", "/orders?user_id=", "/orders?user_id=1&limit=500"] {
                #expect(try await app.client.call(.get, uri).status == .badRequest, "\(uri)")
            }
            #expect(try await app.stock(of: item) == 100)
            #expect(try await app.balance(of: 1) == 10000)
        }
    }

    @Test func refusedOrdersChangeNothing() async throws {
        try await withTestApp { app async throws in
            let cheap = try await app.createItem(price: 300, stock: 5)
            let scarce = try await app.createItem(price: 100, stock: 1)
            let gone = try await app.createItem(price: 100, stock: 9)
            _ = try await app.client.call(.delete, "/admin/items/\(gone)")
            try await app.charge(user: 1, 1000)

            let short = try await app.client.call(.post, "/orders",
                #"{"user_id": 1, "items": [{"item_id": \#(cheap), "quantity": 2}, {"item_id": \#(scarce), "quantity": 2}]}"#)
            #expect(short.status == .conflict)
            #expect(short.code == "INSUFFICIENT_STOCK")
            #expect(short.detail.contains("\(scarce)"))
            #expect(!short.detail.contains("item \(cheap)"))

            for missing in [gone, 4242] {
                let reply = try await app.client.call(.post, "/orders",
                    #"{"user_id": 1, "items": [{"item_id": \#(cheap), "quantity": 1}, {"item_id": \#(missing), "quantity": 1}]}"#)
                #expect(reply.status == .notFound)
                #expect(reply.code == "ITEM_NOT_FOUND")
                #expect(reply.detail.contains("\(missing)"))
            }

            let poor = try await app.client.call(.post, "/orders", #"{"user_id": 1, "items": [{"item_id": \#(cheap), "quantity": 5}, {"item_id": \#(scarce), "quantity": 1}]}"#)
            #expect(poor.status == .conflict)
            #expect(poor.code == "INSUFFICIENT_BALANCE")
            let stranger = try await app.client.call(.post, "/orders", #"{"user_id": 77, "items": [{"item_id": \#(cheap), "quantity": 1}]}"#)
            #expect(stranger.code == "INSUFFICIENT_BALANCE")

            #expect(try await app.stock(of: cheap) == 5)
            #expect(try await app.stock(of: scarce) == 1)
            #expect(try await app.balance(of: 1) == 1000)
            #expect(try await app.sql.int("SELECT COUNT(*) FROM orders") == 0)
            #expect(try await app.sql.int("SELECT COUNT(*) FROM order_items") == 0)
            #expect(try await app.ledgerSum(of: 1) == 1000)
        }
    }

    @Test func couponsDiscountExactlyAndAreUsedOnce() async throws {
        try await withTestApp { app async throws in
            let item = try await app.createItem(price: 3333, stock: 100)
            try await app.charge(user: 1, 100000)
            let fixed = try await app.grantCoupon(user: 1, type: "FIXED", value: 5000)
            let percent = try await app.grantCoupon(user: 1, type: "PERCENT", value: 15)
            let big = try await app.grantCoupon(user: 1, type: "FIXED", value: 1_000_000)

            // 3 × 3333 = 9999; 15% of it is 1499.85 → 1499 (rounded down).
            let withPercent = try await app.client.call(.post, "/orders", #"{"user_id": 1, "items": [{"item_id": \#(item), "quantity": 3}], "coupon_id": \#(percent)}"#)
            #expect(withPercent.status == .created)
            #expect(withPercent.json["subtotal"] as? Int == 9999)
            #expect(withPercent.json["discount"] as? Int == 1499)
            #expect(withPercent.json["total"] as? Int == 8500)
            #expect(withPercent.json["coupon_id"] as? Int == Int(percent))

            let withFixed = try await app.client.call(.post, "/orders", #"{"user_id": 1, "items": [{"item_id": \#(item), "quantity": 2}], "coupon_id": \#(fixed)}"#)
            #expect(withFixed.json["discount"] as? Int == 5000)
            #expect(withFixed.json["total"] as? Int == 1666)

            // A fixed discount is at most the subtotal: the order is free, no points move.
            let before = try await app.balance(of: 1)
            let free = try await app.client.call(.post, "/orders", #"{"user_id": 1, "items": [{"item_id": \#(item), "quantity": 1}], "coupon_id": \#(big)}"#)
            #expect(free.json["discount"] as? Int == 3333)
            #expect(free.json["total"] as? Int == 0)
            #expect(try await app.balance(of: 1) == before)
            #expect(try await app.ledgerSum(of: 1) == before)

            let again = try await app.client.call(.post, "/orders", #"{"user_id": 1, "items": [{"item_id": \#(item), "quantity": 1}], "coupon_id": \#(fixed)}"#)
            #expect(again.status == .conflict)
            #expect(again.code == "COUPON_ALREADY_USED")
            let usedBy = try await app.sql.int("SELECT order_id FROM user_coupons WHERE coupon_id = \(fixed) AND used_at IS NOT NULL")
            #expect(usedBy.map(Int.init) == withFixed.json["order_id"] as? Int)
        }
    }

    @Test func unusableCouponsAreRefusedAndAFailedOrderLeavesTheCouponUnused() async throws {
        let clock = ManualClock(.init(milliseconds: 1_700_000_000_000))
        try await withTestApp(now: clock.now) { app async throws in
            let item = try await app.createItem(price: 1000, stock: 10)
            try await app.charge(user: 1, 500)
            let coupon = try await app.grantCoupon(user: 1, type: "FIXED", value: 100,
                                                   validFrom: 1_700_000_000_000, validUntil: 1_700_000_100_000)
            let other = try await app.grantCoupon(user: 2, type: "FIXED", value: 100)
            let order = { (couponID: Int64) in #"{"user_id": 1, "items": [{"item_id": \#(item), "quantity": 1}], "coupon_id": \#(couponID)}"# }

            #expect(try await app.client.call(.post, "/orders", order(other)).code == "COUPON_NOT_OWNED")
            #expect(try await app.client.call(.post, "/orders", order(987_654)).code == "COUPON_NOT_OWNED")
            // 1000 − 100 = 900 > 500 points: refused, and the coupon stays unused.
            #expect(try await app.client.call(.post, "/orders", order(coupon)).code == "INSUFFICIENT_BALANCE")
            let usedAt = try await app.sql.int("SELECT used_at FROM user_coupons WHERE coupon_id = \(coupon)")
            #expect(usedAt == nil)

            try await app.charge(user: 1, 1000)
            clock.set(.init(milliseconds: 1_700_000_100_001))
            let expired = try await app.client.call(.post, "/orders", order(coupon))
            #expect(expired.status == .conflict)
            #expect(expired.code == "COUPON_EXPIRED")
            clock.set(.init(milliseconds: 1_699_999_999_999))
            #expect(try await app.client.call(.post, "/orders", order(coupon)).code == "COUPON_EXPIRED")
            clock.set(.init(milliseconds: 1_700_000_100_000))
            let onTheEdge = try await app.client.call(.post, "/orders", order(coupon))
            #expect(onTheEdge.status == .created)
            #expect(onTheEdge.json["total"] as? Int == 900)
            #expect(try await app.stock(of: item) == 9)
        }
    }

    @Test func aRetriedOrderWithTheSameKeyIsPlacedOnce() async throws {
        try await withTestApp { app async throws in
            let item = try await app.createItem(price: 100, stock: 10)
            try await app.charge(user: 1, 1000)
            let key: HTTPFields = [.init("Idempotency-Key")!: "order-7f3a"]
            let body = #"{"user_id": 1, "items": [{"item_id": \#(item), "quantity": 3}]}"#
            let first = try await app.client.call(.post, "/orders", body, headers: key)
            let retry = try await app.client.call(.post, "/orders", body, headers: key)
            #expect(first.status == .created)
            #expect(retry.status == .created)
            #expect(retry.text == first.text)
            #expect(try await app.stock(of: item) == 7)
            #expect(try await app.balance(of: 1) == 700)
            #expect((try await app.client.call(.get, "/orders?user_id=1").json["orders"] as? [Any])?.count == 1)

            let different = try await app.client.call(.post, "/orders", #"{"user_id": 1, "items": [{"item_id": \#(item), "quantity": 4}]}"#, headers: key)
            #expect(different.status == .conflict)
            #expect(different.code == "IDEMPOTENCY_KEY_REUSED")

            // A refusal is remembered too: after restocking, the retry still gets the first 409.
            let refusedKey: HTTPFields = [.init("Idempotency-Key")!: "order-2"]
            let big = #"{"user_id": 1, "items": [{"item_id": \#(item), "quantity": 9}]}"#
            let refused = try await app.client.call(.post, "/orders", big, headers: refusedKey)
            #expect(refused.code == "INSUFFICIENT_STOCK")
            _ = try await app.client.call(.patch, "/admin/items/\(item)", #"{"stock": 100}"#)
            let replayed = try await app.client.call(.post, "/orders", big, headers: refusedKey)
            #expect(replayed.status == .conflict)
            #expect(replayed.text == refused.text)
            #expect(try await app.stock(of: item) == 100)
        }
    }
}
