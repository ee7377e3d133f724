import Foundation
import HTTPTypes
import RedisClient
import Testing
import TestSupport

/// PostgreSQL itself going away under a running server (a private PostgreSQL that the test
/// stops and starts again), and the server carrying on by itself once it is back.
@Suite(.alsoOn(.postgres), .enabled(if: TestDatabase.isPostgres, "PostgreSQL's own faults"))
struct PostgresFaultTests {
    @Test func postgresStoppedIsA503WithNothingChangedAndTheSameProcessRecovers() async throws {
        try await PostgresServer.with { postgres async throws in
            try await withTestRedis { redisServer async throws in
                try await withTemporaryDirectory { directory async throws in
                    try postgres.psql("CREATE DATABASE shop")
                    let url = postgres.url(database: "shop")
                    let redis = redisServer.client()
                    defer { redis.shutdown() }
                    try await CommerceServer.with(databasePath: url, redisURL: redisServer.url,
                                                  logFile: directory.appendingPathComponent("serve.log"),
                                                  arguments: ["--log-level", "notice"]) { server in
                        try await Self.check(server, postgres: postgres, redis: redis)
                    }
                }
            }
        }
    }

    private static func check(_ server: CommerceServer, postgres: PostgresServer, redis: any RedisClient) async throws {
        let call = { @Sendable (method: HTTPRequest.Method, path: String, body: String?) async throws -> Reply in
            try await server.once { try await $0.call(method, path, body) }
        }
        let item = try #require(try await call(.post, "/admin/items", #"{"name": "Thing", "price": 100, "stock": 10}"#).json["item_id"] as? Int)
        #expect(try await call(.post, "/points/charge", #"{"user_id": 1, "amount": 1000}"#).status == .ok)
        let coupon = try #require(try await call(.post, "/admin/coupons", #"{"name": "C", "discount_type": "FIXED", "discount_value": 10, "stock": 5, "valid_from": "2020-01-01T00:00:00Z", "valid_until": "2099-01-01T00:00:00Z"}"#).json["coupon_id"] as? Int)
        let order = #"{"user_id": 1, "items": [{"item_id": \#(item), "quantity": 1}]}"#
        let before = try #require(try await call(.post, "/orders", order).json["order_id"] as? Int)

        postgres.stop()
        let ready = try await call(.get, "/health/ready", nil)
        #expect(ready.status == .serviceUnavailable)
        #expect((ready.json["checks"] as? [String: String])?["postgres"] != "ok")
        #expect(ready.detail.contains("postgres"))
        for (path, body) in [("/orders", order), ("/points/charge", #"{"user_id": 1, "amount": 5}"#)] {
            let started = ContinuousClock.now
            let refused = try await call(.post, path, body)
            #expect(refused.status == .serviceUnavailable, "\(path): \(refused.text)")
            #expect(refused.code == "SERVICE_UNAVAILABLE")
            #expect(ContinuousClock.now - started < .seconds(1), "\(path) answered within a second")
        }
        let issue = try await call(.post, "/coupons/issue", #"{"user_id": 2, "coupon_id": \#(coupon)}"#)
        #expect(issue.status == .serviceUnavailable)
        #expect(try await redis.send("GET", .key("coupon:{\(coupon)}:remaining")).int == 5, "the stock went back")

        try await postgres.restart()
        // The same process, not restarted: ready again, and everything works as before.
        try await waitFor { try await call(.get, "/health/ready", nil).status == .ok }
        #expect(try await call(.get, "/health/ready", nil).status == .ok)
        let after = try #require(try await call(.post, "/orders", order).json["order_id"] as? Int)
        #expect(try await call(.post, "/coupons/issue", #"{"user_id": 2, "coupon_id": \#(coupon)}"#).status == .created)
        #expect(try await call(.get, "/points?user_id=1", nil).json["balance"] as? Int == 800, "two orders of 100 taken, nothing else")
        #expect(try await call(.get, "/items/\(item)", nil).json["stock"] as? Int == 8)
        try await waitFor { try await OrderFaultTests.streamEvents(redis).count >= 2 }
        let events = try await OrderFaultTests.streamEvents(redis).map(\.1)
        #expect(events == [before, after], "each order's event once, in order; the server said:\n\(server.process.output.suffix(4000))")
    }
}
