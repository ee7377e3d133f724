import CommerceStore
@testable import CommerceStoreSQLite
import CouponGate
import Foundation
import GRDB
import RedisClient
import Testing
import TestSupport

/// The coupon routes over live HTTP: admin create and view, issue, the holder's list, the issue
/// window, the sold-out short-circuit, and coupons spent on orders.
@Suite(.alsoOn(.postgres, .cluster)) struct CouponsTests {
    static let always = (from: "2000-01-01T00:00:00Z", until: "2100-01-01T00:00:00Z")

    @Test func adminCreatesACouponInSQLiteAndRedis() async throws {
        try await withTestApp { app async throws in
            let reply = try await app.client.call(.post, "/admin/coupons", """
                {"name": "Flash 5,000", "discount_type": "FIXED", "discount_value": 5000, "stock": 3,
                 "valid_from": "2026-11-22T09:00:00Z", "valid_until": "2026-11-23T09:00:00.5+09:00"}
                """)
            #expect(reply.status == .created)
            let id = try #require(reply.json["coupon_id"] as? Int64)
            #expect(reply.text == #"{"coupon_id":\#(id),"name":"Flash 5,000","discount_type":"FIXED","discount_value":5000,"stock":3,"valid_from":"2026-11-22T09:00:00Z","valid_until":"2026-11-23T00:00:00Z","remaining":3,"issued":0}"#)
            #expect(try await app.remaining(id) == 3)
            #expect(try await app.redis.send("HGET", .key("coupon:{\(id)}:meta"), "valid_until").int == 1_795_392_000_500)
            let stored = try await app.database.coupons.coupon(id)
            #expect(stored?.stock == 3)
        }
    }

    @Test func adminCreateValidatesEveryField() async throws {
        try await withTestApp { app async throws in
            let cases: [(String, String)] = [
                (#""name": "", "discount_type": "FIXED", "discount_value": 1, "stock": 1"#, "`name`"),
                (#""name": "x", "discount_type": "fixed", "discount_value": 1, "stock": 1"#, "`discount_type`"),
                (#""name": "x", "discount_type": "FIXED", "discount_value": 0, "stock": 1"#, "`discount_value`"),
                (#""name": "x", "discount_type": "FIXED", "discount_value": 1000000001, "stock": 1"#, "`discount_value`"),
                (#""name": "x", "discount_type": "PERCENT", "discount_value": 101, "stock": 1"#, "`discount_value`"),
                (#""name": "x", "discount_type": "PERCENT", "discount_value": 10, "stock": -1"#, "`stock`"),
                (#""name": "x", "discount_type": "PERCENT", "discount_value": 10"#, "`stock`"),
            ]
            for (fields, named) in cases {
                let reply = try await app.client.call(.post, "/admin/coupons",
                    #"{\#(fields), "valid_from": "\#(Self.always.from)", "valid_until": "\#(Self.always.until)"}"#)
                #expect(reply.status == .badRequest, "\(fields)")
                #expect(reply.code == "INVALID_REQUEST")
                #expect(reply.detail.contains(named), "\(reply.detail) should name \(named)")
            }
            let windows: [(String, String, String)] = [
                ("yesterday", Self.always.until, "`valid_from`"),
                ("2026-02-30T00:00:00Z", Self.always.until, "`valid_from`"),
                (Self.always.from, "2026-11-22 09:00", "`valid_until`"),
                ("2026-11-22T09:00:00Z", "2026-11-22T09:00:00Z", "`valid_until`"),
                ("2026-11-22T09:00:00Z", "2026-11-22T17:59:59+09:00", "`valid_until`"),
            ]
            for (from, until, named) in windows {
                let reply = try await app.client.call(.post, "/admin/coupons",
                    #"{"name": "x", "discount_type": "FIXED", "discount_value": 1, "stock": 1, "valid_from": "\#(from)", "valid_until": "\#(until)"}"#)
                #expect(reply.status == .badRequest, "\(from) \(until)")
                #expect(reply.detail.contains(named), "\(reply.detail) should name \(named)")
            }
            #expect(try await app.sql.int("SELECT COUNT(*) FROM coupons") == 0)
        }
    }

    @Test func issueRecordsTheCouponAndListsItAtOnce() async throws {
        try await withTestApp { app async throws in
            let coupon = try await app.createCoupon(stock: 10, type: "PERCENT", value: 15)
            let reply = try await app.client.call(.post, "/coupons/issue", #"{"user_id": 42, "coupon_id": \#(coupon)}"#)
            #expect(reply.status == .created)
            #expect(reply.json["user_id"] as? Int == 42)
            #expect(reply.json["coupon_id"] as? Int64 == coupon)
            let issuedAt = try #require(reply.json["issued_at"] as? String)
            #expect(Timestamp(rfc3339: issuedAt) != nil)

            let list = try await app.client.call(.get, "/coupons?user_id=42")
            #expect(list.status == .ok)
            let held = try #require((list.json["coupons"] as? [[String: Any]])?.first)
            #expect(held["coupon_id"] as? Int64 == coupon)
            #expect(held["discount_type"] as? String == "PERCENT")
            #expect(held["discount_value"] as? Int == 15)
            #expect(held["issued_at"] as? String == issuedAt)
            #expect(held["used"] as? Bool == false)
            #expect(held["used_at"] is NSNull && held["order_id"] is NSNull)
            #expect(held["valid_from"] as? String == "2000-01-01T00:00:00Z")
            #expect(try await app.client.call(.get, "/coupons?user_id=43").text == #"{"coupons":[]}"#)

            let again = try await app.client.call(.post, "/coupons/issue", #"{"user_id": 42, "coupon_id": \#(coupon)}"#)
            #expect(again.status == .conflict)
            #expect(again.code == "COUPON_ALREADY_ISSUED")

            let admin = try await app.client.call(.get, "/admin/coupons/\(coupon)")
            #expect(admin.json["remaining"] as? Int == 9)
            #expect(admin.json["issued"] as? Int == 1)
            let requests = try #require(admin.json["issue_requests"] as? [String: Int])
            #expect(requests == ["issued": 1, "already_issued": 1, "sold_out": 0, "not_active": 0, "not_found": 0, "rate_limited": 0, "unavailable": 0])
        }
    }

    @Test func unknownCouponsAndBadRequestsAreRefused() async throws {
        try await withTestApp { app async throws in
            for user in 1...2 {
                // The second too: an unknown coupon must not be remembered as sold out.
                let unknown = try await app.client.call(.post, "/coupons/issue", #"{"user_id": \#(user), "coupon_id": 999}"#)
                #expect(unknown.status == .notFound)
                #expect(unknown.code == "COUPON_NOT_FOUND")
            }
            #expect(try await app.client.call(.get, "/admin/coupons/999").code == "COUPON_NOT_FOUND")
            for (body, named) in [(#"{"user_id": 0, "coupon_id": 1}"#, "`user_id`"), (#"{"user_id": 1}"#, "`coupon_id`"),
                                  (#"{"user_id": 1, "coupon_id": "7"}"#, "`coupon_id`"), (#"{"user_id": 1.5, "coupon_id": 7}"#, "`user_id`")] {
                let reply = try await app.client.call(.post, "/coupons/issue", body)
                #expect(reply.status == .badRequest, "\(body)")
                #expect(reply.detail.contains(named), "\(reply.detail) should name \(named)")
            }
            #expect(try await app.client.call(.get, "/coupons").status == .badRequest)
            #expect(try await app.client.call(.get, "/coupons?user_id=-1").status == .badRequest)
        }
    }

    @Test func theIssueWindowHoldsOnBothEdges() async throws {
        let from = try #require(Timestamp(rfc3339: "2026-11-22T09:00:00Z"))
        let until = try #require(Timestamp(rfc3339: "2026-11-22T10:00:00Z"))
        let clock = ManualClock(Timestamp(milliseconds: from.milliseconds - 1))
        try await withTestApp(now: clock.now) { app async throws in
            let coupon = try await app.createCoupon(stock: 10, from: from.description, until: until.description)
            func issue(_ user: Int) async throws -> Reply {
                try await app.client.call(.post, "/coupons/issue", #"{"user_id": \#(user), "coupon_id": \#(coupon)}"#)
            }
            let early = try await issue(1)
            #expect(early.status == .conflict)
            #expect(early.code == "COUPON_NOT_ACTIVE")
            clock.set(from)
            #expect(try await issue(1).status == .created)
            clock.set(until)
            let last = try await issue(2)
            #expect(last.status == .created)
            #expect(last.json["issued_at"] as? String == "2026-11-22T10:00:00Z")
            clock.set(Timestamp(milliseconds: until.milliseconds + 1))
            #expect(try await issue(3).code == "COUPON_NOT_ACTIVE")
            #expect(try await app.remaining(coupon) == 8)
            #expect(try await app.issuedRows(coupon) == [1, 2])
        }
    }

    @Test func soldOutIsAnsweredWithoutRedisUntilTheFlagExpires() async throws {
        try await withTestApp { app async throws in
            let coupon = try await app.createCoupon(stock: 2)
            for user in 1...2 {
                #expect(try await app.client.call(.post, "/coupons/issue", #"{"user_id": \#(user), "coupon_id": \#(coupon)}"#).status == .created)
            }
            // The second issuance took the last one: the process knows it is sold out without
            // asking Redis again, so even with Redis gone the answer is a 409, not a 503.
            app.redisServer.stop()
            let refused = try await app.client.call(.post, "/coupons/issue", #"{"user_id": 3, "coupon_id": \#(coupon)}"#)
            #expect(refused.status == .conflict)
            #expect(refused.code == "COUPON_SOLD_OUT")
            // A holder is told it holds the coupon, from the process's memory too.
            let holder = try await app.client.call(.post, "/coupons/issue", #"{"user_id": 1, "coupon_id": \#(coupon)}"#)
            #expect(holder.status == .conflict)
            #expect(holder.code == "COUPON_ALREADY_ISSUED")
            // A restock behind the process's back (the stock raised in the store), seen once the
            // flag expires (about a second). The test Redis comes back empty, and is repaired from
            // the store (the restock included) before anything is issued from it.
            try await app.sql.execute("UPDATE coupons SET stock = 3 WHERE id = \(coupon)")
            try await app.redisServer.restart()
            try await CouponRegistry(redis: app.redis).publish(
                CouponTerms(couponID: coupon, stock: 3, validFrom: 0, validUntil: Int64(4e12)), alreadyIssued: 2)
            var status = 0
            for _ in 0..<40 where status != 201 {
                try await Task.sleep(for: .milliseconds(100))
                status = Int(try await app.client.call(.post, "/coupons/issue", #"{"user_id": 4, "coupon_id": \#(coupon)}"#).status.code)
            }
            #expect(status == 201)
            #expect(try await app.issuedRows(coupon) == [1, 2, 4])
        }
    }

    @Test func aCouponWithNoStockIsSoldOutAtOnce() async throws {
        try await withTestApp { app async throws in
            let coupon = try await app.createCoupon(stock: 0)
            #expect(try await app.client.call(.post, "/coupons/issue", #"{"user_id": 1, "coupon_id": \#(coupon)}"#).code == "COUPON_SOLD_OUT")
        }
    }

    @Test func anIssuedCouponPaysForAnOrderOnceAndAFailedOrderLeavesItUnused() async throws {
        try await withTestApp { app async throws in
            let item = try await app.createItem(price: 10_000, stock: 10)
            let coupon = try await app.createCoupon(stock: 5, type: "FIXED", value: 3_000)
            try await app.charge(user: 5, 7_000)
            #expect(try await app.client.call(.post, "/coupons/issue", #"{"user_id": 5, "coupon_id": \#(coupon)}"#).status == .created)

            let tooBig = try await app.client.call(.post, "/orders", #"{"user_id": 5, "items": [{"item_id": \#(item), "quantity": 2}], "coupon_id": \#(coupon)}"#)
            #expect(tooBig.code == "INSUFFICIENT_BALANCE")
            let unused = try await app.client.call(.get, "/coupons?user_id=5")
            #expect((unused.json["coupons"] as? [[String: Any]])?.first?["used"] as? Bool == false)

            let order = try await app.client.call(.post, "/orders", #"{"user_id": 5, "items": [{"item_id": \#(item), "quantity": 1}], "coupon_id": \#(coupon)}"#)
            #expect(order.status == .created)
            #expect(order.json["discount"] as? Int == 3_000)
            #expect(order.json["total"] as? Int == 7_000)
            #expect(order.json["balance_after"] as? Int == 0)
            let used = try #require((try await app.client.call(.get, "/coupons?user_id=5").json["coupons"] as? [[String: Any]])?.first)
            #expect(used["used"] as? Bool == true)
            #expect(used["order_id"] as? Int == order.json["order_id"] as? Int)
            #expect(used["used_at"] as? String == order.json["ordered_at"] as? String)

            try await app.charge(user: 5, 10_000)
            let twice = try await app.client.call(.post, "/orders", #"{"user_id": 5, "items": [{"item_id": \#(item), "quantity": 1}], "coupon_id": \#(coupon)}"#)
            #expect(twice.code == "COUPON_ALREADY_USED")
        }
    }
}

extension TestApp {
    /// Creates a coupon through the admin route and returns its id.
    func createCoupon(stock: Int64, type: String = "FIXED", value: Int64 = 1_000,
                      from: String = CouponsTests.always.from, until: String = CouponsTests.always.until) async throws -> Int64 {
        let reply = try await client.call(.post, "/admin/coupons", """
            {"name": "Test coupon", "discount_type": "\(type)", "discount_value": \(value), "stock": \(stock),
             "valid_from": "\(from)", "valid_until": "\(until)"}
            """)
        guard reply.status == .created, let id = reply.json["coupon_id"] as? Int64 else {
            throw TestSupportError("creating a coupon failed: \(reply.status) \(reply.text)")
        }
        return id
    }

    /// `POST /coupons/issue` for the user and coupon, with an admin token.
    func issue(user: Int64, coupon: Int64) async throws -> Reply {
        try await client.call(.post, "/coupons/issue", #"{"user_id": \#(user), "coupon_id": \#(coupon)}"#)
    }

    /// The users holding the coupon according to the database, ascending.
    func issuedRows(_ couponID: Int64) async throws -> [Int64] {
        try await sql.strings("SELECT user_id FROM user_coupons WHERE coupon_id = \(couponID) ORDER BY user_id").compactMap { Int64($0) }
    }

    /// Redis's remaining stock of the coupon.
    func remaining(_ couponID: Int64) async throws -> Int64? {
        try await redis.send("GET", .key("coupon:{\(couponID)}:remaining")).int
    }

    /// The users holding the coupon according to Redis, ascending.
    func issuedInRedis(_ couponID: Int64) async throws -> [Int64] {
        try await redis.send("HKEYS", .key("coupon:{\(couponID)}:issued")).array?.compactMap(\.int).sorted() ?? []
    }
}
