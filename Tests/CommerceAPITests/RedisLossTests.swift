import CommerceStore
@testable import CommerceStoreSQLite
import Foundation
import Hummingbird
import HummingbirdTesting
import Ranking
import Testing
import TestSupport
import RedisClient
@testable import CommerceAPI
@testable import CommerceCore

/// Redis losing acknowledged data while the service runs: found, fenced and repaired by the
/// service itself, without `commerce reconcile`.
@Suite(.alsoOn(.postgres, .cluster)) struct RedisLossTests {
    /// One issue request, retried while it is answered 503 (fenced or Redis away) for at most
    /// `patience`, as a client honouring `Retry-After` would (faster, to keep the test short).
    static func issueRetrying(_ connection: TestClient, user: Int64, coupon: Int64, patience: Duration = .seconds(10)) async throws -> Reply {
        let deadline = ContinuousClock.now + patience
        while true {
            let reply = try await connection.call(.post, "/coupons/issue", #"{"user_id": \#(user), "coupon_id": \#(coupon)}"#)
            guard reply.status == .serviceUnavailable, ContinuousClock.now < deadline else { return reply }
            #expect(reply.headers[.retryAfter] != nil || !reply.detail.contains("repaired"), "a fenced 503 says when to retry")
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    @Test func aRedisRestartedFromAnOlderSnapshotNeverOversellsNorIssuesTwice() async throws {
        try await withTestApp { app async throws in
            let coupon = try await app.createCoupon(stock: 100)
            for user in 1...30 { #expect(try await Self.issueRetrying(app.connection(), user: Int64(user), coupon: coupon).status == .created) }
            try await app.redis.sendToEveryPrimary("SAVE")  // the snapshot Redis will come back from
            for user in 31...60 { #expect(try await Self.issueRetrying(app.connection(), user: Int64(user), coupon: coupon).status == .created) }

            app.redisServer.stop()
            try await app.redisServer.restart()  // holds users 1-30 and remaining 70
            let restarted = ContinuousClock.now
            // 200 new users and the 30 holders Redis forgot, at once, over 32 connections.
            let users = Array(101...300) + Array(31...60)
            // Each reply with how long after the restart it came.
            let replies = try await withThrowingTaskGroup(of: [(Int64, Reply, Duration)].self) { group in
                for worker in 0..<32 {
                    group.addTask {
                        let connection = app.connection()
                        var replies: [(Int64, Reply, Duration)] = []
                        for user in users.enumerated().filter({ $0.offset % 32 == worker }).map(\.element) {
                            let reply = try await Self.issueRetrying(connection, user: Int64(user), coupon: coupon)
                            replies.append((Int64(user), reply, ContinuousClock.now - restarted))
                        }
                        try await connection.close()
                        return replies
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            let issued = replies.filter { $0.1.status == .created }.map(\.0)
            #expect(issued.count == 40)
            #expect(issued.allSatisfy { $0 > 100 }, "none of the forgotten holders was issued it twice")
            // Every forgotten holder is answered as one, before and after the sell-out.
            #expect(replies.filter { $0.0 <= 60 }.allSatisfy { $0.1.code == "COUPON_ALREADY_ISSUED" })
            #expect(replies.filter { $0.0 > 100 && $0.1.status != .created }.allSatisfy { $0.1.code == "COUPON_SOLD_OUT" })
            #expect(try await app.issuedRows(coupon).count == 100)
            #expect(try await app.issuedInRedis(coupon).count == 100)
            #expect(try await app.remaining(coupon) == 0)
            let wait = try #require(replies.filter { $0.1.status != .serviceUnavailable }.map(\.2).min())
            #expect(wait < .seconds(5), "issuing answered again \(wait) after Redis came back")
        }
    }

    @Test func aRedisRestartedEmptyIsFencedThenRepairedAndTheEventCarriesOnToTheStock() async throws {
        // No periodic look: the restart is found by the first connection to the new server, and
        // the repair starts from there (so the test's first request is sure to meet the fence).
        try await withTestApp(redisCheckInterval: .seconds(3600)) { app async throws in
            let coupon = try await app.createCoupon(stock: 50)
            let items = try await app.createItems(3, price: 10, stock: 100)
            try await app.charge(user: 1, 10_000)
            for (item, quantity) in zip(items, [5, 2, 7]) {
                #expect(try await app.order(user: 1, [(item, quantity)]).status == .created)
            }
            for user in 1...20 { #expect(try await Self.issueRetrying(app.connection(), user: Int64(user), coupon: coupon).status == .created) }
            try await waitFor { (try await app.client.call(.get, "/items/popular").json["items"] as? [Any])?.count == 3 }

            app.redisServer.stop()
            try await app.redisServer.restart()  // empty: it never saved
            let restarted = ContinuousClock.now
            // The first request meets the new server: fenced, with a time to come back.
            let fenced = try await app.client.call(.post, "/coupons/issue", #"{"user_id": 21, "coupon_id": \#(coupon)}"#)
            #expect(fenced.status == .serviceUnavailable)
            #expect(fenced.code == "SERVICE_UNAVAILABLE")
            #expect(fenced.headers[.retryAfter] != nil)

            // Repaired: a holder is still a holder; then the event carries on exactly to the stock.
            #expect(try await Self.issueRetrying(app.connection(), user: 5, coupon: coupon).code == "COUPON_ALREADY_ISSUED")
            var created = 0
            for user in 21...80 where try await Self.issueRetrying(app.connection(), user: Int64(user), coupon: coupon).status == .created {
                created += 1
            }
            #expect(created == 30)
            #expect(try await app.issuedRows(coupon).count == 50)
            #expect(try await app.issuedInRedis(coupon).count == 50)
            // The popular list is the database's answer again, from the rebuilt ranking.
            let truth = try await app.database.sales.bestSellers(placedIn: 0..<Int64.max, limit: 5).map(\.item.itemID)
            try await waitFor {
                let listed = (try await app.client.call(.get, "/items/popular").json["items"] as? [[String: Any]] ?? []).compactMap { $0["item_id"] as? Int64 }
                return listed == truth
            }
            let listed = (try await app.client.call(.get, "/items/popular").json["items"] as? [[String: Any]] ?? []).compactMap { $0["item_id"] as? Int64 }
            #expect(listed == truth)
            #expect(ContinuousClock.now - restarted < .seconds(5), "the popular list was the database's again within 5 s")
            #expect(try await app.redis.send("ZCARD", .key("rank:{sales}:\(SalesDay(Date(), in: TimeZone(identifier: "UTC")!).compact)")).int == 3)
            let metrics = try await app.client.call(.get, "/metrics").text
            // The fresh Redis at start and the restart: each found (on every primary of a cluster)
            // and repaired once.
            let servers = try await app.redis.primaries().count
            #expect(metrics.contains(#"commerce_redis_data_loss_total{event="detected"} \#(2 * servers)"#))
            #expect(metrics.contains(#"commerce_redis_data_loss_total{event="repaired"} 2"#))
        }
    }

    @Test func eventsAppendedBeforeRedisWasLostAreAppendedAgainInCommitOrder() async throws {
        try await withTestApp { app async throws in
            let ids = try await OrderEventsTests.placeOrders(app, count: 6)
            app.redisServer.stop()
            try await app.redisServer.restart()  // the stream and its watermark are gone
            try await waitFor { try await OrderFaultTests.streamEvents(app.redis).count >= ids.count }
            let events = try await OrderFaultTests.streamEvents(app.redis).map(\.1)
            #expect(events == ids, "every order's event again, in commit order")
            #expect(try await app.database.outbox.backlog(sink: OrderEvent.stream) == 0)
        }
    }

    @Test func aFlushIsFoundWithoutARestartAndRepaired() async throws {
        try await withTestApp(redisCheckInterval: .seconds(1)) { app async throws in
            let coupon = try await app.createCoupon(stock: 5)
            #expect(try await Self.issueRetrying(app.connection(), user: 1, coupon: coupon).status == .created)
            try await app.redis.sendToEveryPrimary("FLUSHALL")
            try await waitFor {
                if !app.dataGuard.isTrusted { return true }
                return try await app.issuedInRedis(coupon) == [1]
            }
            try await waitFor { app.dataGuard.isTrusted }
            #expect(app.dataGuard.isTrusted)
            #expect(try await app.issuedInRedis(coupon) == [1])
            #expect(try await app.remaining(coupon) == 4)
            #expect(app.dataGuard.lossesDetected >= 2)  // the fresh Redis at start, and the flush
            let ready = try await app.client.call(.get, "/health/ready")
            #expect(ready.status == .ok)
        }
    }

    @Test func whileAnotherRunHoldsTheLockReadySaysRepairingAndIssuingWaits() async throws {
        try await withTestApp(redisCheckInterval: .seconds(3600)) { app async throws in
            let coupon = try await app.createCoupon(stock: 5)
            #expect(try await Self.issueRetrying(app.connection(), user: 1, coupon: coupon).status == .created)
            app.redisServer.stop()
            try await app.redisServer.restart()
            // Someone else's reconcile run holds the lock on the new server (a client of its own,
            // so the service has not looked at the new server yet).
            let other = app.redisServer.client()
            defer { other.shutdown() }
            try await other.send("SET", .key("reconcile:lock"), "someone-else", "PX", "60000")

            let ready = try await app.client.call(.get, "/health/ready", token: nil)
            #expect(ready.status == .serviceUnavailable)
            #expect((ready.json["checks"] as? [String: String])?["redis"] == "repairing")
            let fenced = try await app.client.call(.post, "/coupons/issue", #"{"user_id": 2, "coupon_id": \#(coupon)}"#)
            #expect(fenced.status == .serviceUnavailable)
            #expect(fenced.headers[.retryAfter] == "2")

            try await other.send("DEL", .key("reconcile:lock"))
            #expect(try await Self.issueRetrying(app.connection(), user: 2, coupon: coupon, patience: .seconds(5)).status == .created)
            #expect(try await app.client.call(.get, "/health/ready", token: nil).status == .ok)
            #expect(try await app.issuedInRedis(coupon) == [1, 2])
        }
    }
}
