import CommerceStore
@testable import CommerceStoreSQLite
import CouponGate
import Foundation
import GRDB
import RedisClient
import Synchronization
import Testing
import TestSupport

/// The coupon gate when a part fails: Redis gone or hung, SQLite refusing the record, the server
/// killed in the middle of a burst. In every case: no oversell, and nothing issued that the
/// client was told was not.
@Suite(.alsoOn(.postgres, .cluster)) struct CouponFaultTests {
    @Test func redisDownIsA503WithinASecondAndIssuesNothing() async throws {
        try await withTestApp { app async throws in
            let coupon = try await app.createCoupon(stock: 5)
            app.redisServer.stop()
            for user in 1...3 {
                let start = ContinuousClock.now
                let reply = try await app.client.call(.post, "/coupons/issue", #"{"user_id": \#(user), "coupon_id": \#(coupon)}"#)
                #expect(ContinuousClock.now - start < .seconds(1))
                #expect(reply.status == .serviceUnavailable)
                #expect(reply.code == "SERVICE_UNAVAILABLE")
            }
            #expect(try await app.issuedRows(coupon).isEmpty)
            #expect(app.coupons.counters.counts(couponID: coupon)[.unavailable] == 3)
            // A pooled connection Redis closed as it stopped may have taken the first request
            // and answered with a reset: "may have run", so a give-back waits (a refused
            // connection queues none). Either way, once Redis is back nothing stays issued.
            #expect(app.coupons.pendingGiveBackCount <= 1)
            try await app.redisServer.restart()
            try await waitFor { app.coupons.pendingGiveBackCount == 0 }
            #expect(try await app.issuedInRedis(coupon).isEmpty)
            #expect(try await app.issuedRows(coupon).isEmpty)
        }
    }

    @Test func hungRedisIsA503WithinASecondAndLeavesNothingIssued() async throws {
        try await withTestApp { app async throws in
            let coupon = try await app.createCoupon(stock: 5)
            let admin = app.redisServer.client()
            defer { admin.shutdown() }
            try await admin.sendToEveryPrimary("CLIENT", "PAUSE", "1500", "ALL")
            let start = ContinuousClock.now
            let reply = try await app.client.call(.post, "/coupons/issue", #"{"user_id": 1, "coupon_id": \#(coupon)}"#)
            #expect(ContinuousClock.now - start < .seconds(1))
            #expect(reply.status == .serviceUnavailable)
            // Whether or not the script ran once Redis woke up, the give-back retried in the
            // background leaves the user without the coupon and the stock whole.
            try await waitFor {
                guard app.coupons.pendingGiveBackCount == 0 else { return false }
                return (try? await app.remaining(coupon)) == 5
            }
            #expect(try await app.remaining(coupon) == 5)
            #expect(try await app.issuedInRedis(coupon).isEmpty)
            #expect(try await app.issuedRows(coupon).isEmpty)
            #expect(try await app.client.call(.post, "/coupons/issue", #"{"user_id": 1, "coupon_id": \#(coupon)}"#).status == .created)
        }
    }

    @Test(.enabled(if: TestDatabase.isSQLite, "SQLite's file lock"))
    func sqliteLockedPastItsTimeoutGivesTheCouponBack() async throws {
        try await withTestApp(busyTimeout: 0.2) { app async throws in
            let coupon = try await app.createCoupon(stock: 1)
            // Another process's writer holding the lock (kept open across accesses on purpose).
            var configuration = Configuration()
            configuration.allowsUnsafeTransactions = true
            let other = try DatabaseQueue(path: app.databasePath, configuration: configuration)
            try await other.writeWithoutTransaction { try $0.execute(sql: "BEGIN EXCLUSIVE") }
            let refused = try await app.client.call(.post, "/coupons/issue", #"{"user_id": 1, "coupon_id": \#(coupon)}"#)
            #expect(refused.status == .serviceUnavailable)
            #expect(try await app.remaining(coupon) == 1, "the one coupon went back to Redis")
            #expect(try await app.issuedInRedis(coupon).isEmpty)
            try await other.writeWithoutTransaction { try $0.execute(sql: "ROLLBACK") }
            #expect(try await app.issuedRows(coupon).isEmpty)

            // Given back means really available again, even though it was the last one.
            #expect(try await app.client.call(.post, "/coupons/issue", #"{"user_id": 2, "coupon_id": \#(coupon)}"#).status == .created)
            #expect(try await app.issuedRows(coupon) == [2])
            #expect(try await app.remaining(coupon) == 0)
        }
    }

    @Test(.enabled(if: TestDatabase.isSQLite, "a SQLite trigger"))
    func anyFailureToRecordGivesTheCouponBack() async throws {
        try await withTestApp { app async throws in
            let coupon = try await app.createCoupon(stock: 3)
            try await app.sql.execute("CREATE TRIGGER refuse BEFORE INSERT ON user_coupons BEGIN SELECT RAISE(ABORT, 'injected failure'); END")
            let refused = try await app.client.call(.post, "/coupons/issue", #"{"user_id": 1, "coupon_id": \#(coupon)}"#)
            #expect(refused.status == .serviceUnavailable)
            #expect(try await app.remaining(coupon) == 3)
            #expect(try await app.issuedInRedis(coupon).isEmpty)
            try await app.sql.execute("DROP TRIGGER refuse")
            #expect(try await app.client.call(.post, "/coupons/issue", #"{"user_id": 1, "coupon_id": \#(coupon)}"#).status == .created)
        }
    }

    @Test func redisThatLostACouponAnswers503NotNotFound() async throws {
        // Before the loss is found (no periodic check here), the gate meets a coupon Redis lacks.
        try await withTestApp(redisCheckInterval: .seconds(3600)) { app async throws in
            let coupon = try await app.createCoupon(stock: 3)
            try await app.redis.sendToEveryPrimary("FLUSHALL")
            let reply = try await app.client.call(.post, "/coupons/issue", #"{"user_id": 1, "coupon_id": \#(coupon)}"#)
            #expect(reply.status == .serviceUnavailable)
            #expect(reply.detail.contains("coupon \(coupon)"))
            #expect(try await app.client.call(.get, "/admin/coupons/\(coupon)").status == .serviceUnavailable)
        }
    }

    /// What a client was told: user → issued_at of every 201.
    final class Acknowledged: Sendable {
        private let issued = Mutex<[Int64: String]>([:])
        func add(_ user: Int64, at time: String) { issued.withLock { $0[user] = time } }
        var all: [Int64: String] { issued.withLock { $0 } }
    }

    /// On SQLite, whose file it reads itself; on PostgreSQL a process killed mid-burst is
    /// `SharedDatabaseTests.killingOneProcessMidBurstLosesNothingOnceReconciled`.
    @Test(.enabled(if: TestDatabase.isSQLite, "reads the SQLite file itself"))
    func killNineMidBurstThenRestartAndReconcileLeaveRedisAndSQLiteEqual() async throws {
        let stock: Int64 = 100_000
        let connections = 32
        try await withTestRedis { redisServer async throws in
            try await withTemporaryDirectory { directory async throws in
                let path = directory.appendingPathComponent("c.sqlite").path
                let database = try SQLiteStore(path: path)
                let coupon = try await database.pool.write { db in
                    try CouponBook.create(db, NewCoupon(name: "Burst", discountType: .fixed, discountValue: 1_000, stock: stock,
                                          validFrom: Timestamp(milliseconds: 0), validUntil: Timestamp(milliseconds: Int64(4e12))), at: 0).couponID
                }
                let redis = redisServer.client()
                defer { redis.shutdown() }
                try await CouponRegistry(redis: redis).publish(CouponTerms(couponID: coupon, stock: stock, validFrom: 0, validUntil: Int64(4e12)))

                let log = directory.appendingPathComponent("server.log")
                let server = try await CommerceServer.start(databasePath: path, redisURL: redisServer.url, logFile: log)
                let acknowledged = Acknowledged()
                let stop = OrderFaultTests.Flag()
                async let load: Void = withTaskGroup(of: Void.self) { group in
                    for worker in 0..<connections {
                        group.addTask {
                            let connection = server.connection()
                            var user = Int64(worker) * 1_000_000
                            while !stop.isSet {
                                user += 1
                                guard let reply = try? await connection.call(.post, "/coupons/issue",
                                    #"{"user_id": \#(user), "coupon_id": \#(coupon)}"#) else { return }
                                if reply.status == .created, let time = reply.json["issued_at"] as? String {
                                    acknowledged.add(user, at: time)
                                }
                            }
                            try? await connection.close()
                        }
                    }
                }
                try await waitFor { acknowledged.all.count >= 300 }
                server.process.signal(SIGKILL)
                #expect(await server.process.waitForExit() == 128 + SIGKILL)
                stop.set()
                await load
                let promised = acknowledged.all
                #expect(promised.count >= 300, "the burst should have issued coupons before the kill")

                // The restarted server finds every acknowledged issuance in SQLite.
                try await CommerceServer.with(databasePath: path, redisURL: redisServer.url, logFile: log) { restarted in
                    let rows = try await database.read { db in
                        try Row.fetchAll(db, sql: "SELECT user_id, issued_at FROM user_coupons WHERE coupon_id = ?", arguments: [coupon])
                            .reduce(into: [Int64: Int64]()) { $0[$1[0]] = $1[1] }
                    }
                    let inRedis = try await redis.send("HGETALL", .key(CouponKeys(couponID: coupon).issued)).array ?? []
                    let issued = stride(from: 0, to: inRedis.count, by: 2).reduce(into: [Int64: Int64]()) { map, index in
                        map[inRedis[index].int!] = inRedis[index + 1].int!
                    }
                    let remaining = try await redis.send("GET", .key(CouponKeys(couponID: coupon).remaining)).int
                    for (user, time) in promised {
                        #expect(rows[user].map { Timestamp(milliseconds: $0).description } == time, "user \(user) was told 201")
                    }
                    for (user, time) in rows {
                        #expect(issued[user] == time, "every row is in Redis with the same issue time")
                    }
                    // What the reconcile job will insert: Redis entries without a row. Only
                    // requests in flight at the kill can be among them, none of them acknowledged.
                    let unrecorded = issued.filter { rows[$0.key] == nil }
                    #expect(unrecorded.count <= connections)
                    #expect(unrecorded.keys.allSatisfy { promised[$0] == nil })
                    #expect(remaining.map { $0 + Int64(issued.count) } == stock, "Redis never oversold")
                    #expect(Int64(rows.count + unrecorded.count) == stock - (remaining ?? 0))

                    let after = try await restarted.once {
                        try await $0.call(.post, "/coupons/issue", #"{"user_id": 999999999, "coupon_id": \#(coupon)}"#)
                    }
                    #expect(after.status == .created, "issuing carries on after the restart")

                    // `commerce reconcile` (the CLI, beside the running server) records them.
                    let (status, report) = try await ReconcileTests.runCLI(databasePath: path, redisURL: redisServer.url, directory: directory)
                    #expect(status == 0)
                    #expect(report["rows_inserted"] as? Int == unrecorded.count)
                    #expect(report["redis_restored"] as? Int == 0)
                    let expected = issued.count + 1
                    let finalRows = try await database.read {
                        try Row.fetchAll($0, sql: "SELECT user_id, issued_at FROM user_coupons WHERE coupon_id = ?", arguments: [coupon])
                            .reduce(into: [Int64: Int64]()) { $0[$1[0]] = $1[1] }
                    }
                    let keys = CouponKeys(couponID: coupon)
                    #expect(finalRows.count == expected)
                    #expect(try await redis.send("HLEN", .key(keys.issued)).int == Int64(expected))
                    #expect(try await redis.send("GET", .key(keys.remaining)).int == stock - Int64(expected))
                    for (user, time) in unrecorded { #expect(finalRows[user] == time, "inserted with its issue time") }
                    for (user, time) in promised {
                        #expect(finalRows[user].map { Timestamp(milliseconds: $0).description } == time, "user \(user) holds it")
                    }
                    let (again, second) = try await ReconcileTests.runCLI(databasePath: path, redisURL: redisServer.url, directory: directory)
                    #expect(again == 0)
                    #expect(ReconcileTests.changes(second) == 0, "a second run changes nothing: \(second)")
                }
            }
        }
    }
}
