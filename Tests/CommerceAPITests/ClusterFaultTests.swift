import Foundation
import RedisClient
import Synchronization
import Testing
import TestSupport

/// The coupon gate on a Redis Cluster while the cluster changes shape under a burst: the coupon's
/// slot moved to another primary, its primary failed over to the replica. Runs in the suite's
/// cluster pass (`COMMERCE_TEST_REDIS=cluster`).
@Suite(.alsoOn(.cluster), .enabled(if: testsUseRedisCluster, "needs COMMERCE_TEST_REDIS=cluster"))
struct ClusterFaultTests {
    /// One answer of a steady burst: the user, the status, the error code and when it came.
    struct Answer: Sendable {
        var user: Int64
        var status: Int
        var code: String?
        var at: ContinuousClock.Instant
    }

    /// Every user asks once, `connections` at a time; a 503 is asked again 50 ms later (as a
    /// client honouring Retry-After would), for at most `patience`. Returns every answer, the
    /// retried ones included.
    static func steadyBurst(_ app: TestApp, coupon: Int64, users: Int, connections: Int, patience: Duration = .seconds(20)) async throws -> [Answer] {
        let next = Ticket()
        let giveUpAt = ContinuousClock.now + patience
        return try await withThrowingTaskGroup(of: [Answer].self) { group in
            for _ in 0..<connections {
                group.addTask {
                    let connection = app.connection()
                    var answers: [Answer] = []
                    while case let index = next.take(), index < users {
                        let user = Int64(index + 1)
                        while true {
                            let reply = try await connection.call(.post, "/coupons/issue", #"{"user_id": \#(user), "coupon_id": \#(coupon)}"#)
                            answers.append(Answer(user: user, status: Int(reply.status.code), code: reply.code, at: .now))
                            guard reply.status.code == 503, ContinuousClock.now < giveUpAt else { break }
                            try await Task.sleep(for: .milliseconds(50))
                        }
                    }
                    try? await connection.close()
                    return answers
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
    }

    /// Waits until the gate has issued at least `count` of the coupon.
    static func issued(_ app: TestApp, _ coupon: Int64, atLeast count: Int) async throws {
        try await waitFor { (app.coupons.counters.counts(couponID: coupon)[.issued] ?? 0) >= count }
    }

    /// The final answer per user: exactly `stock` got a 201, every other user was told sold out,
    /// no user got two coupons, and the store's rows are exactly Redis's issued set.
    static func expectExactlyStockIssued(_ app: TestApp, _ coupon: Int64, _ answers: [Answer], stock: Int, users: Int) async throws {
        let created = answers.filter { $0.status == 201 }.map(\.user)
        #expect(created.count == stock, "exactly the stock was issued")
        #expect(Set(created).count == created.count, "no user twice")
        let finals = Dictionary(answers.map { ($0.user, $0) }, uniquingKeysWith: { $0.at < $1.at ? $1 : $0 })
        #expect(finals.count == users)
        let others = finals.values.filter { !($0.status == 201 || $0.status == 409 && $0.code == "COUPON_SOLD_OUT") }
        #expect(others.isEmpty, "\(others.count) users were finally told something else, e.g. \(others.prefix(3).map { "\($0.status) \($0.code ?? "")" })")
        #expect(finals.values.filter { $0.status == 409 && $0.code == "COUPON_SOLD_OUT" }.count == users - stock)
        #expect(try await app.issuedRows(coupon) == created.sorted(), "every 201 holds a row, and no one else")
        #expect(try await app.issuedInRedis(coupon) == created.sorted(), "rows == Redis issued")
        #expect(try await app.remaining(coupon) == 0)
    }

    @Test func aThousandOfFiveThousandWhileTheCouponsSlotMovesToAnotherPrimary() async throws {
        try await withTestApp { app async throws in
            let cluster = try #require(app.redisServer as? RedisCluster)
            let coupon = try await app.createCoupon(stock: 1_000)
            let tag = "\(coupon)"
            let source = try await cluster.nodes(serving: tag).primary
            let target = try #require(cluster.primaries.first { $0.port != source.port })
            async let answers = Self.steadyBurst(app, coupon: coupon, users: 5_000, connections: 128)
            try await Self.issued(app, coupon, atLeast: 100)
            // The coupon's three keys go over in one MIGRATE; the slot stays MIGRATING for
            // 300 ms after that, so the gate's scripts meet ASK, then MOVED once it is done.
            try await cluster.migrate(slotOf: tag, to: target, batch: 10, pause: .milliseconds(300))
            let all = try await answers
            #expect(all.filter { $0.status == 503 }.isEmpty, "moving the slot cost no request a 503")
            #expect(try await cluster.nodes(serving: tag).primary.port == target.port)
            #expect((app.coupons.counters.counts(couponID: coupon)[.issued] ?? 0) >= 100)
            try await Self.expectExactlyStockIssued(app, coupon, all, stock: 1_000, users: 5_000)
            let metrics = try await app.client.call(.get, "/metrics").text
            #expect(Self.counter(#"commerce_redis_cluster_redirections_total{kind="ask"}"#, in: metrics) > 0, "ASK followed")
            #expect(Self.counter(#"commerce_redis_cluster_redirections_total{kind="moved"}"#, in: metrics) > 0, "MOVED followed")
        }
    }

    @Test func noOversellWhenTheCouponsPrimaryFailsOverMidBurst() async throws {
        try await withTestApp { app async throws in
            let cluster = try #require(app.redisServer as? RedisCluster)
            let coupon = try await app.createCoupon(stock: 1_000)
            let replica = try await cluster.nodes(serving: "\(coupon)").replica
            async let answers = Self.steadyBurst(app, coupon: coupon, users: 5_000, connections: 128)
            try await Self.issued(app, coupon, atLeast: 100)
            try await cluster.failOver(to: replica)
            let promoted = ContinuousClock.now
            let all = try await answers
            #expect(try await cluster.nodes(serving: "\(coupon)").primary.port == replica.port)
            // The new primary's run_id is not the one its (replicated) marker names: issuing was
            // fenced and the service repaired the data, then went on.
            let firstAfter = all.filter { $0.status == 201 && $0.at > promoted }.map(\.at).min()
            let resumed = try #require(firstAfter, "issuing went on after the failover")
            #expect(resumed - promoted < .seconds(2), "issuing continued within 2 s of the promotion")
            let report = try await app.reconciler.run(dryRun: false)
            #expect(report.rowsInserted == 0 && report.redisRestored == 0, "nothing was lost either side")
            try await Self.expectExactlyStockIssued(app, coupon, all, stock: 1_000, users: 5_000)
        }
    }

    static func counter(_ name: String, in metrics: String) -> Int {
        metrics.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Int($0.split(separator: " ").last ?? "") } ?? -1
    }
}
