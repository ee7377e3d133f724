import Foundation
import Testing
import TestSupport

/// `PATCH /admin/coupons/{id}`: a restock or a cut during an event, live and atomic with issuing.
@Suite(.alsoOn(.postgres, .cluster)) struct CouponTermsTests {
    @Test func aRestockIssuesExactlyTheDifferenceAndACutBelowTheIssuedChangesNothing() async throws {
        try await withTestApp { app async throws in
            let coupon = try await app.createCoupon(stock: 3)
            for user: Int64 in 1...3 { #expect(try await app.issue(user: user, coupon: coupon).status == .created) }
            #expect(try await app.issue(user: 4, coupon: coupon).code == "COUPON_SOLD_OUT", "sold out, and flagged so")

            let raised = try await app.client.call(.patch, "/admin/coupons/\(coupon)", #"{"stock": 5}"#)
            #expect(raised.status == .ok)
            #expect(raised.json["stock"] as? Int64 == 5 && raised.json["remaining"] as? Int64 == 2 && raised.json["issued"] as? Int64 == 3)
            // This process forgets the sold-out flag at once.
            #expect(try await app.issue(user: 4, coupon: coupon).status == .created)
            #expect(try await app.issue(user: 5, coupon: coupon).status == .created)
            #expect(try await app.issue(user: 6, coupon: coupon).code == "COUPON_SOLD_OUT")

            let cut = try await app.client.call(.patch, "/admin/coupons/\(coupon)", #"{"stock": 4, "valid_until": "2099-01-01T00:00:00Z"}"#)
            #expect(cut.status == .conflict)
            #expect(cut.code == "COUPON_STOCK_BELOW_ISSUED")
            let after = try await app.client.call(.get, "/admin/coupons/\(coupon)")
            #expect(after.json["stock"] as? Int64 == 5 && after.json["remaining"] as? Int64 == 0 && after.json["issued"] as? Int64 == 5)
            #expect(after.json["valid_until"] as? String == CouponsTests.always.until, "nothing changed, the window neither")
            #expect(try await app.sql.int("SELECT stock FROM coupons WHERE id = \(coupon)") == 5)
            #expect(try await app.redis.send("HGET", .key("coupon:{\(coupon)}:meta"), "stock").int == 5)

            // Down to exactly the issued count is allowed; then up by 2 and cut by 1 again.
            #expect(try await app.client.call(.patch, "/admin/coupons/\(coupon)", #"{"stock": 5}"#).status == .ok)
            let again = try await app.client.call(.patch, "/admin/coupons/\(coupon)", #"{"stock": 7}"#)
            #expect(again.json["remaining"] as? Int64 == 2)
            let trimmed = try await app.client.call(.patch, "/admin/coupons/\(coupon)", #"{"stock": 6}"#)
            #expect(trimmed.status == .ok && trimmed.json["remaining"] as? Int64 == 1)
            #expect(try await app.issue(user: 6, coupon: coupon).status == .created)
            #expect(try await app.issue(user: 7, coupon: coupon).code == "COUPON_SOLD_OUT")
            #expect(try await app.issuedRows(coupon) == [1, 2, 3, 4, 5, 6])
            #expect(try await app.issuedInRedis(coupon) == [1, 2, 3, 4, 5, 6])
        }
    }

    @Test func movingTheEndOfTheWindowClosesAndReopensIssuing() async throws {
        try await withTestApp { app async throws in
            let coupon = try await app.createCoupon(stock: 10)
            let closed = try await app.client.call(.patch, "/admin/coupons/\(coupon)", #"{"valid_until": "2001-01-01T00:00:00Z"}"#)
            #expect(closed.status == .ok && closed.json["valid_until"] as? String == "2001-01-01T00:00:00Z")
            #expect(try await app.issue(user: 1, coupon: coupon).code == "COUPON_NOT_ACTIVE")
            #expect(try await app.client.call(.patch, "/admin/coupons/\(coupon)", #"{"valid_until": "2098-01-01T00:00:00Z"}"#).status == .ok)
            #expect(try await app.issue(user: 1, coupon: coupon).status == .created)
            #expect(try await app.sql.int("SELECT valid_until FROM coupons WHERE id = \(coupon)") == 4_039_372_800_000)
        }
    }

    @Test func badChangesAreRefusedWithNothingChanged() async throws {
        try await withTestApp { app async throws in
            let coupon = try await app.createCoupon(stock: 10)
            for body in [#"{}"#, #"{"stock": null}"#, #"{"stock": -1}"#, #"{"stock": "5"}"#, #"{"valid_until": "soon"}"#,
                         #"{"valid_until": "1999-01-01T00:00:00Z"}"#, #"{"stock": 1000000001}"#] {
                let reply = try await app.client.call(.patch, "/admin/coupons/\(coupon)", body)
                #expect(reply.status == .badRequest, "\(body)")
                #expect(reply.code == "INVALID_REQUEST", "\(body)")
            }
            #expect(try await app.client.call(.patch, "/admin/coupons/999999", #"{"stock": 5}"#).code == "COUPON_NOT_FOUND")
            let user = try await app.client.call(.patch, "/admin/coupons/\(coupon)", #"{"stock": 5}"#, token: TestTokens.token(user: 7))
            #expect(user.status == .forbidden)
            #expect(try await app.sql.int("SELECT stock FROM coupons WHERE id = \(coupon)") == 10)
            #expect(try await app.remaining(coupon) == 10)
        }
    }

    @Test func aRestockDuringABurstIssuesExactlyTheNewStock() async throws {
        try await withTestApp { app async throws in
            let coupon = try await app.createCoupon(stock: 200)
            let users = (1...1_500).map { Int64($0) }
            async let replies = CouponBurstTests.burst(app, coupon: coupon, users: users, connections: 64)
            // Mid-burst: once some are issued, the stock goes up by 100.
            while try await app.issuedInRedis(coupon).count < 50 { try await Task.sleep(for: .milliseconds(2)) }
            let raised = try await app.client.call(.patch, "/admin/coupons/\(coupon)", #"{"stock": 300}"#)
            #expect(raised.status == .ok)
            let answered = try await replies
            let issued = answered.filter { $0.status == 201 }.map(\.user).sorted()
            #expect(issued.count == 300)
            #expect(answered.filter { $0.code == "COUPON_SOLD_OUT" }.count == 1_200)
            #expect(try await app.issuedRows(coupon) == issued)
            #expect(try await app.remaining(coupon) == 0)
        }
    }

    /// Many admins change one coupon at once: each change is 200, 409 or 503, and the store and
    /// Redis end with the same terms (the store's last version), whatever order the changes
    /// reached Redis in.
    @Test func concurrentChangesEndWithTheSameTermsInBothPlaces() async throws {
        try await withTestApp { app async throws in
            let coupon = try await app.createCoupon(stock: 5)
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for n in 0..<12 {
                    group.addTask {
                        try await app.connection().call(.patch, "/admin/coupons/\(coupon)", #"{"stock": \#(10 + n)}"#).status.code
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.allSatisfy { [200, 409, 503].contains($0) }, "\(statuses)")
            #expect(statuses.contains(200))
            try await waitFor { app.coupons.pendingTermsSyncCount == 0 }
            let stock = try #require(try await app.sql.int("SELECT stock FROM coupons WHERE id = \(coupon)"))
            let version = try #require(try await app.sql.int("SELECT terms_version FROM coupons WHERE id = \(coupon)"))
            #expect(try await app.redis.send("HGET", .key("coupon:{\(coupon)}:meta"), "stock").int == stock)
            #expect(try await app.redis.send("HGET", .key("coupon:{\(coupon)}:meta"), "version").int == version)
            #expect(try await app.remaining(coupon) == stock)
        }
    }
}
