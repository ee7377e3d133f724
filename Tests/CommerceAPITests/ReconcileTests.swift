import CommerceStore
@testable import CommerceStoreSQLite
import CouponGate
import Foundation
import GRDB
import Logging
import RedisClient
import Testing
import TestSupport
@testable import CommerceAPI
@testable import CommerceCore

/// The reconcile job after each kind of fault, each case ending with a second run that changes
/// nothing; and while a burst is under way.
@Suite(.alsoOn(.postgres, .cluster)) struct ReconcileTests {
    /// Runs `commerce reconcile --json` (the built binary); returns its exit status and report.
    static func runCLI(databasePath: String, redisURL: String, directory: URL, arguments: [String] = []) async throws -> (Int32?, [String: Any]) {
        let log = directory.appendingPathComponent("reconcile-\(UUID().uuidString).log")
        let process = try ChildProcess.spawn(
            [try builtExecutable("commerce"), "reconcile", "--db", databasePath, "--redis", redisURL, "--json"] + arguments, logFile: log)
        let status = await process.waitForExit(timeout: .seconds(60))
        let line = process.output.split(separator: "\n").first { $0.hasPrefix("{") } ?? ""
        let report = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] ?? [:]
        return (status, report)
    }

    /// The sum of what a report says changed.
    static func changes(_ report: [String: Any]) -> Int {
        ["rows_inserted", "redis_restored", "stock_fixed", "ranking_days_rebuilt", "cache_entries_dropped"]
            .reduce(0) { $0 + (report[$1] as? Int ?? 1_000_000) }
    }

    /// Redis issued == SQLite rows == stock - remaining, the same users on both sides.
    static func expectAgreement(_ app: TestApp, coupon: Int64, stock: Int64, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let rows = try await app.issuedRows(coupon)
        #expect(try await app.issuedInRedis(coupon) == rows, sourceLocation: sourceLocation)
        #expect(try await app.remaining(coupon) == stock - Int64(rows.count), sourceLocation: sourceLocation)
        #expect(Int64(rows.count) <= stock, "never beyond stock", sourceLocation: sourceLocation)
    }

    @Test func afterFlushAllCouponsStockAndRankingAreRestoredAndIssuingContinuesWhereItStopped() async throws {
        // The reconcile job by hand: no periodic check, so the flush is not found (and repaired)
        // by the service meanwhile (RedisLossTests cover that).
        try await withTestApp(redisCheckInterval: .seconds(3600)) { app async throws in
            let stock: Int64 = 50
            let coupon = try await app.createCoupon(stock: stock)
            for user in 1...30 { #expect(try await app.issue(user: Int64(user), coupon: coupon).status == .created) }
            let items = try await app.createItems(3, price: 10, stock: 100)
            try await app.charge(user: 1, 10_000)
            #expect(try await app.order(user: 1, [(items[0], 4), (items[1], 2)]).status == .created)
            #expect(try await app.order(user: 1, [(items[2], 3)]).status == .created)
            try await waitFor { (try await app.client.call(.get, "/items/popular").json["items"] as? [Any])?.count == 3 }
            // Both relays done, so that nothing writes to Redis after the flush but what is tested
            // (the stream's relay, landing late, made the dry run's "changes nothing" fail).
            try await waitFor {
                let stream = try await app.database.outbox.backlog(sink: OrderEvent.stream)
                let ranking = try await app.database.outbox.backlog(sink: app.ranking.cursorName)
                return stream == 0 && ranking == 0
            }
            let popular = try await app.client.call(.get, "/items/popular").text
            let issuedTimes = try await app.redis.send("HGETALL", .key(CouponKeys(couponID: coupon).issued))

            try await app.redis.sendToEveryPrimary("FLUSHALL")
            #expect(try await app.issue(user: 99, coupon: coupon).status == .serviceUnavailable)

            let dry = try await app.reconciler.run(dryRun: true)
            #expect(dry.redisRestored == 30 && dry.stockFixed == 1 && dry.rankingDaysRebuilt == 1 && !dry.agreed)
            #expect(try await app.redis.sendToEveryPrimary("DBSIZE").compactMap(\.int).reduce(0, +) == 0, "a dry run changes nothing")

            let report = try await app.reconciler.run(dryRun: false)
            #expect(report.couponsChecked == 1)
            #expect(report.redisRestored == 30)
            #expect(report.rowsInserted == 0)
            #expect(report.stockFixed == 1)
            #expect(report.rankingDaysRebuilt == 1)
            #expect(report.agreed)
            #expect(try await app.redis.send("HGETALL", .key(CouponKeys(couponID: coupon).issued)) == issuedTimes)
            try await Self.expectAgreement(app, coupon: coupon, stock: stock)
            try await Task.sleep(for: .milliseconds(600))  // past the popular list's cache
            #expect(try await app.client.call(.get, "/items/popular").text == popular)

            // Issuing goes on exactly: holders are refused, 20 more are issued, then sold out.
            #expect(try await app.issue(user: 7, coupon: coupon).code == "COUPON_ALREADY_ISSUED")
            var created = 0
            for user in 100..<130 where try await app.issue(user: Int64(user), coupon: coupon).status == .created { created += 1 }
            #expect(created == 20)
            try await Self.expectAgreement(app, coupon: coupon, stock: stock)
            #expect(try await app.reconciler.run(dryRun: false).changedNothing)
        }
    }

    @Test func deletedRowsAreInsertedAgainWithTheirIssueTimesAndADryRunOnlyCounts() async throws {
        try await withTestApp { app async throws in
            let coupon = try await app.createCoupon(stock: 100)
            for user in 1...20 { #expect(try await app.issue(user: Int64(user), coupon: coupon).status == .created) }
            let rows = "SELECT user_id || ':' || issued_at FROM user_coupons ORDER BY user_id"
            let before = try await app.sql.strings(rows)
            try await app.sql.execute("DELETE FROM user_coupons WHERE user_id % 3 = 0")
            #expect(try await app.issuedRows(coupon).count == 14)

            let (dryStatus, dry) = try await Self.runCLI(databasePath: app.databasePath, redisURL: app.redisServer.url,
                                                         directory: app.directory, arguments: ["--dry-run"])
            #expect(dryStatus == 1, "a dry run that finds something to change exits 1")
            #expect(dry["rows_inserted"] as? Int == 6)
            #expect(dry["dry_run"] as? Bool == true)
            #expect(try await app.issuedRows(coupon).count == 14, "a dry run changes nothing")

            let report = try await app.reconciler.run(dryRun: false)
            #expect(report.rowsInserted == 6 && report.redisRestored == 0 && report.stockFixed == 0)
            let after = try await app.sql.strings(rows)
            #expect(after == before, "the same users with the same issue times")
            try await Self.expectAgreement(app, coupon: coupon, stock: 100)
            let (status, second) = try await Self.runCLI(databasePath: app.databasePath, redisURL: app.redisServer.url,
                                                         directory: app.directory)
            #expect(status == 0)
            #expect(Self.changes(second) == 0)
        }
    }

    @Test func reconcilingDuringABurstNeverOversellsOrLosesAnIssuance() async throws {
        try await withTestApp { app async throws in
            let stock: Int64 = 1_500
            let coupon = try await app.createCoupon(stock: stock)
            for user in 1...200 { #expect(try await app.issue(user: Int64(user), coupon: coupon).status == .created) }
            // Faults to repair while the burst runs: rows lost in SQLite, and entries lost in
            // Redis whose stock stays taken (a loss that also gave the stock back would let the
            // burst oversell before any repair; what is tested here is the repair).
            try await app.sql.execute("DELETE FROM user_coupons WHERE user_id <= 40")
            let keys = CouponKeys(couponID: coupon)
            for user in 41...60 { try await app.redis.send("HDEL", .key(keys.issued), RedisArgument(user)) }

            let stop = Counter()
            async let reconciling: Int = {
                var runs = 0
                while stop.count == 0 {
                    do { _ = try await app.reconciler.run(dryRun: false); runs += 1 } catch is ReconcileRunning {}
                }
                return runs
            }()
            let users = (1_000...5_000).map(Int64.init)
            let replies = try await CouponBurstTests.burst(app, coupon: coupon, users: users, connections: 64)
            stop.add()
            let runs = try await reconciling
            #expect(runs >= 1)

            let final = try await app.reconciler.run(dryRun: false)
            #expect(final.agreed)
            var rows = try await app.issuedRows(coupon)
            let created = replies.filter { $0.status == 201 }.map(\.user)
            #expect(replies.allSatisfy { $0.status == 201 || $0.code == "COUPON_SOLD_OUT" })
            #expect(Set(created).isSubset(of: Set(rows)), "every 201 is held")
            #expect(Set(1...200).isSubset(of: Set(rows.map(Int.init))), "the repaired first 200 are held")
            #expect(rows.count == created.count + 200, "no row without a 201: \(rows.count) rows, \(created.count) created")
            try await Self.expectAgreement(app, coupon: coupon, stock: stock)

            // No stock was lost: what is left can still be issued, and not one more.
            try await Task.sleep(for: .milliseconds(1_100))  // past the burst's sold-out flag
            var user: Int64 = 100_000
            while try await app.issue(user: user, coupon: coupon).status == .created { user += 1 }
            rows = try await app.issuedRows(coupon)
            #expect(rows.count == Int(stock), "exactly the stock issued in the end: \(rows.count)")
            try await Self.expectAgreement(app, coupon: coupon, stock: stock)
            #expect(try await app.reconciler.run(dryRun: false).changedNothing)
        }
    }

    @Test func staleCacheEntriesAreDroppedAndOnlyOneRunAtATime() async throws {
        try await withTestApp { app async throws in
            let item = try await app.createItem(name: "Lamp", price: 100, stock: 10)
            #expect(try await app.client.call(.get, "/items/\(item)").json["stock"] as? Int == 10)
            #expect(try await app.client.call(.get, "/items?limit=5").status == .ok)
            // Entries that disagree with SQLite (as a crash between commit and invalidation leaves).
            try await app.redis.send("HSET", .key(ItemCache.itemKey(item)), "item", "100 99 Lamp")
            try await app.redis.send("HSET", .key(ItemCache.pagesKey), "0:5", #"{"items":[],"next_cursor":null}"#)

            let report = try await app.reconciler.run(dryRun: false)
            #expect(report.cacheEntriesDropped == 2)
            #expect(try await app.client.call(.get, "/items/\(item)").json["stock"] as? Int == 10)
            #expect((try await app.client.call(.get, "/items?limit=5").json["items"] as? [Any])?.count == 1)
            #expect(try await app.reconciler.run(dryRun: false).changedNothing)

            // Another run (any process) holds the lock: the route says so, the job does not start.
            try await app.redis.send("SET", .key("reconcile:lock"), "someone-else", "PX", "10000")
            let busy = try await app.client.call(.post, "/admin/reconcile")
            #expect(busy.status == .conflict)
            #expect(busy.code == "RECONCILE_RUNNING")
            try await app.redis.send("DEL", .key("reconcile:lock"))
            let done = try await app.client.call(.post, "/admin/reconcile?dry_run=true")
            #expect(done.status == .ok)
            #expect(Set(done.json.keys).isSuperset(of: ["coupons_checked", "rows_inserted", "redis_restored", "stock_fixed",
                                                         "ranking_days_rebuilt", "cache_entries_dropped", "duration_ms"]))
            #expect(try await app.client.call(.post, "/admin/reconcile?dry_run=maybe").status == .badRequest)
        }
    }

    @Test func theNightlyRunIsScheduledAtTheNextLocalTime() async throws {
        #expect(ReconcileTime("03:00")?.description == "03:00")
        for bad in ["3:00", "24:00", "03:60", "0300", "off", ""] { #expect(ReconcileTime(bad) == nil, "\(bad)") }
        try await withTestApp { app async throws in
            let nightly = NightlyReconcile(reconciler: app.reconciler, time: ReconcileTime("03:00")!,
                                           timeZone: TimeZone(identifier: "Asia/Seoul")!, logger: Logger(label: "test"))
            let formatter = ISO8601DateFormatter()
            let wait = { (utc: String) in nightly.secondsUntilNextRun(from: formatter.date(from: utc)!).map { $0.rounded() } }
            // 17:30 UTC is 02:30 in Seoul: half an hour to go. 18:30 UTC (03:30 KST): tomorrow.
            #expect(wait("2026-11-22T17:30:00Z") == 1_800)
            #expect(wait("2026-11-22T18:30:00Z") == 23.5 * 3_600)
            #expect(wait("2026-11-22T18:00:00Z") == 86_400.0, "at 03:00 exactly: the next night")
        }
    }

    @Test func theCommandRefusesADatabaseThatDoesNotExist() async throws {
        try await withTestApp { app async throws in
            let directory = app.directory
            let missing = directory.appendingPathComponent("typo.sqlite").path
            let (status, report) = try await Self.runCLI(databasePath: missing, redisURL: app.redisServer.url, directory: directory)
            #expect(status == 2)
            #expect(report.isEmpty)
            #expect(!FileManager.default.fileExists(atPath: missing), "no empty database created to 'repair' Redis against")
        }
    }

    /// A nightly cron job that meets a run under way (a server's own repair) waits for it
    /// instead of giving up at once; a lock that outlives the wait still ends in exit status 2.
    @Test func theCommandWaitsForARunUnderWay() async throws {
        try await withTestApp { app async throws in
            try await app.redis.send("SET", .key("reconcile:lock"), "a-repair-under-way", "PX", "2000")
            let start = ContinuousClock.now
            let (status, report) = try await Self.runCLI(databasePath: app.databasePath, redisURL: app.redisServer.url,
                                                          directory: app.directory)
            #expect(status == 0)
            #expect(ContinuousClock.now - start >= .milliseconds(1_500), "it waited for the lock")
            #expect(report["coupons_checked"] as? Int == 0)
        }
    }
}
