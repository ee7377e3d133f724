import CommerceStore
@testable import CommerceStoreSQLite
import Foundation
import LuaScripts
import Ranking
import RedisClient
import Testing
@testable import CommerceAPI
@testable import CommerceCore

/// `GET /items/popular`: the window's days, ties, deleted items, relay retries, rebuilds and
/// Redis outages, with orders placed on chosen days by an injected clock.
@Suite(.alsoOn(.postgres, .cluster)) struct PopularItemsTests {
    /// Today at 10:00 UTC. Days near the real date, so the ranking's keys (which expire a few
    /// days after their window, by Redis's own clock) are still alive.
    static let today: Timestamp = {
        let day = SalesDay(Date(), in: TimeZone(identifier: "UTC")!)
        return Timestamp(milliseconds: day.start(in: TimeZone(identifier: "UTC")!) + 10 * 3_600_000)
    }()

    static func at(days: Int, hours: Double = 0) -> Timestamp {
        Timestamp(milliseconds: today.milliseconds + Int64(days) * 86_400_000 + Int64(hours * 3_600_000))
    }

    static func day(_ offset: Int) -> String {
        SalesDay(at(days: offset).date, in: TimeZone(identifier: "UTC")!).description
    }

    /// Places one order for user 1 (charged beforehand) at `time`, then sets the clock back to today.
    static func sell(_ app: TestApp, _ clock: ManualClock, at time: Timestamp, _ lines: [(item: Int64, quantity: Int)]) async throws {
        clock.set(time)
        let reply = try await app.order(user: 1, lines)
        #expect(reply.status == .created, "\(reply.text)")
        clock.set(today)
    }

    /// `(item_id, sold, rank)` of the popular list, once it has `count` entries and `first` leads.
    static func popular(_ app: TestApp) async throws -> (body: [String: Any], rows: [[Int]]) {
        let reply = try await app.client.call(.get, "/items/popular")
        #expect(reply.status == .ok)
        let items = reply.json["items"] as? [[String: Any]] ?? []
        return (reply.json, items.map { [$0["item_id"] as? Int ?? -1, $0["sold"] as? Int ?? -1, $0["rank"] as? Int ?? -1] })
    }

    /// Waits until the list equals `expected` (the relay counts within a second), then asserts it.
    static func expectPopular(_ app: TestApp, _ expected: [[Int]], sourceLocation: SourceLocation = #_sourceLocation) async throws {
        try await waitFor { try await popular(app).rows == expected }
        let actual = try await popular(app).rows
        #expect(actual == expected, "got \(actual)", sourceLocation: sourceLocation)
    }

    @Test func theWindowIsTodayAndTheTwoDaysBeforeWithExactSumsAndRanks() async throws {
        let clock = ManualClock(Self.today)
        try await withTestApp(now: clock.now) { app async throws in
            var ids: [Int64] = []
            for name in ["A", "B", "C", "D", "E", "F", "G"] { ids.append(try await app.createItem(name: name, price: 10, stock: 1000)) }
            let (a, b, c, d, e, f, g) = (ids[0], ids[1], ids[2], ids[3], ids[4], ids[5], ids[6])
            try await app.charge(user: 1, 100_000)

            try await Self.sell(app, clock, at: Self.at(days: -4), [(g, 100)])  // outside the window
            try await Self.sell(app, clock, at: Self.at(days: -2, hours: -10), [(a, 5), (b, 3)])  // the window's first instant
            try await Self.sell(app, clock, at: Self.at(days: -1), [(a, 2), (c, 6), (d, 1)])
            try await Self.sell(app, clock, at: Self.at(days: 0), [(b, 4), (e, 2)])
            try await Self.sell(app, clock, at: Self.at(days: 0, hours: 13.99), [(f, 1)])  // 23:59 today

            // A 7, B 7 (tie: smaller id first), C 6, E 2, then D 1 and F 1 tied for the fifth place.
            try await Self.expectPopular(app, [[Int(a), 7, 1], [Int(b), 7, 2], [Int(c), 6, 3], [Int(e), 2, 4], [Int(d), 1, 5]])
            let (body, _) = try await Self.popular(app)
            #expect(body["window_days"] as? Int == 3)
            #expect(body["from"] as? String == Self.day(-2))
            #expect(body["to"] as? String == Self.day(0))
            let first = (body["items"] as? [[String: Any]])?.first ?? [:]
            #expect(first["name"] as? String == "A")
            #expect(first["price"] as? Int == 10)
            #expect(first["stock"] as? Int == 993)
            #expect(Set(first.keys) == ["item_id", "name", "price", "stock", "rank", "sold"])

            // The next day the oldest day leaves the window: A 2, C 6, D 1, B 4, E 2, F 1.
            clock.set(Self.at(days: 1))
            try await Self.expectPopular(app, [[Int(c), 6, 1], [Int(b), 4, 2], [Int(a), 2, 3], [Int(e), 2, 4], [Int(d), 1, 5]])
            #expect(try await Self.popular(app).body["from"] as? String == Self.day(-1))
        }
    }

    @Test func theDayBoundaryIsTakenInTheConfiguredTimeZone() async throws {
        // 23:00 and 00:30 Seoul time on consecutive Seoul days, both on the same UTC day.
        let lateEvening = Self.at(days: -2, hours: 4)   // 14:00 UTC = 23:00 KST
        let afterMidnight = Self.at(days: -2, hours: 5.5)  // 15:30 UTC = 00:30 KST the next day
        let later = Self.at(days: 0, hours: 10)  // 20:00 UTC = 05:00 KST the day after tomorrow
        for (zone, expected) in [("UTC", 2), ("Asia/Seoul", 1)] {
            let clock = ManualClock(Self.today)
            try await withTestApp(now: clock.now, timeZone: TimeZone(identifier: zone)!) { app async throws in
                let early = try await app.createItem(name: "Early", price: 10, stock: 100)
                let late = try await app.createItem(name: "Late", price: 10, stock: 100)
                try await app.charge(user: 1, 10_000)
                try await Self.sell(app, clock, at: lateEvening, [(early, 1)])
                try await Self.sell(app, clock, at: afterMidnight, [(late, 1)])
                clock.set(later)
                // UTC: both orders on the window's first day. Seoul: the window starts a day
                // later, so the 23:00 order is out and only the 00:30 one counts.
                try await waitFor { try await Self.popular(app).rows.count == expected }
                let (body, rows) = try await Self.popular(app)
                #expect(rows.count == expected, "\(zone)")
                #expect(rows.first?[0] == (zone == "UTC" ? Int(early) : Int(late)), "\(zone)")
                let seoulToday = SalesDay(later.date, in: TimeZone(identifier: "Asia/Seoul")!)
                let to = zone == "UTC" ? Self.day(0) : seoulToday.description
                #expect(body["to"] as? String == to, "\(zone)")
                #expect(zone == "UTC" || to != Self.day(0))
            }
        }
    }

    @Test func tiesGoToTheSmallerIdAsANumberNineBeforeTen() async throws {
        let clock = ManualClock(Self.today)
        try await withTestApp(now: clock.now) { app async throws in
            let ids = try await app.createItems(12, price: 1, stock: 100)
            #expect(ids[8] == 9 && ids[9] == 10)
            try await app.charge(user: 1, 10_000)
            try await Self.sell(app, clock, at: Self.today, [(10, 3), (9, 3)])
            // Eight items tied with one unit each: the list's last places go to 1, 2, 3, while
            // Redis's own order of equal scores would give the largest ids.
            try await Self.sell(app, clock, at: Self.today, [(12, 1), (11, 1), (8, 1), (7, 1), (3, 1), (2, 1), (1, 1)])
            try await Self.expectPopular(app, [[9, 3, 1], [10, 3, 2], [1, 1, 3], [2, 1, 4], [3, 1, 5]])
        }
    }

    @Test func deletedItemsAreLeftOutAndTheNextMovesUp() async throws {
        let clock = ManualClock(Self.today)
        try await withTestApp(now: clock.now) { app async throws in
            let ids = try await app.createItems(8, price: 1, stock: 100)
            try await app.charge(user: 1, 10_000)
            try await Self.sell(app, clock, at: Self.today, ids.enumerated().map { ($1, 10 - $0) })  // 10, 9, ..., 3
            try await Self.expectPopular(app, (0..<5).map { [Int(ids[$0]), 10 - $0, $0 + 1] })
            for deleted in [ids[0], ids[2]] {
                #expect(try await app.client.call(.delete, "/admin/items/\(deleted)").status == .noContent)
            }
            try await Self.expectPopular(app, [1, 3, 4, 5, 6].enumerated().map { [Int(ids[$1]), 10 - $1, $0 + 1] })
        }
    }

    @Test func aRelayRetryDoesNotCountAnOrderTwice() async throws {
        let clock = ManualClock(Self.today)
        try await withTestApp(now: clock.now) { app async throws in
            let item = try await app.createItem(price: 1, stock: 100)
            try await app.charge(user: 1, 10_000)
            for _ in 0..<3 { try await Self.sell(app, clock, at: Self.today, [(item, 2)]) }
            try await Self.expectPopular(app, [[Int(item), 6, 1]])

            // A crash between counting and moving the cursor: the same orders come again, both
            // straight to the sink and through the running relay after a rewind.
            let orders = try await app.database.outbox.pending(sink: "a copy from the start", limit: 3).entries
            #expect(orders.count == 3)
            #expect(try await app.ranking.deliver(orders, after: 0) == nil)
            try await app.database.outbox.rewind(sink: app.ranking.cursorName, to: 0, at: 0)
            try await waitFor { try await app.database.outbox.cursor(sink: app.ranking.cursorName) == orders[2].position }
            #expect(try await app.database.outbox.cursor(sink: app.ranking.cursorName) == orders[2].position)
            let day = SalesDay(Self.today.date, in: TimeZone(identifier: "UTC")!)
            let units = try await app.redis.send("ZSCORE", .key(RankingKeys.unitsSold(on: day)), RedisArgument(RankingKeys.member(item)))
            #expect(units.int == 6)
            try await Task.sleep(for: .milliseconds(600))  // past the route's ranking reuse
            #expect(try await Self.popular(app).rows == [[Int(item), 6, 1]])
        }
    }

    @Test func rebuildRestoresADayFromSQLiteAndChangesNothingTheSecondTime() async throws {
        let clock = ManualClock(Self.today)
        try await withTestApp(now: clock.now) { app async throws in
            let first = try await app.createItem(price: 1, stock: 100)
            let second = try await app.createItem(price: 1, stock: 100)
            try await app.charge(user: 1, 10_000)
            try await Self.sell(app, clock, at: Self.today, [(first, 4), (second, 2)])
            try await Self.sell(app, clock, at: Self.at(days: -1), [(second, 5)])
            try await Self.expectPopular(app, [[Int(second), 7, 1], [Int(first), 4, 2]])

            let today = SalesDay(Self.today.date, in: TimeZone(identifier: "UTC")!)
            let key = RankingKeys.unitsSold(on: today)
            try await app.redis.send("ZINCRBY", .key(key), "50", RedisArgument(RankingKeys.member(first)))  // skewed
            #expect(try await app.ranking.rebuild(today, from: app.database.sales))
            #expect(try await app.redis.send("ZSCORE", .key(key), RedisArgument(RankingKeys.member(first))).int == 4)
            #expect(try await app.ranking.rebuild(today, from: app.database.sales) == false)

            try await app.redis.send("DEL", .key(key))  // lost
            #expect(try await app.ranking.rebuild(today, from: app.database.sales))
            try await Self.expectPopular(app, [[Int(second), 7, 1], [Int(first), 4, 2]])

            // Orders after a rebuild are counted once: the rebuild moved the day's watermark.
            try await Self.sell(app, clock, at: Self.today, [(first, 10)])
            try await Self.expectPopular(app, [[Int(first), 14, 1], [Int(second), 7, 2]])
        }
    }

    @Test func rebuildRefusesASnapshotOlderThanWhatTheRelayCounted() async throws {
        try await withTestApp { app async throws in
            let day = SalesDay(Date(), in: TimeZone(identifier: "UTC")!)
            let keys = [RankingKeys.unitsSold(on: day), RankingKeys.applied(on: day)]
            try await app.redis.send("SET", .key(keys[1]), "42")
            let refused = try await app.redis.run(LuaScripts.rankRebuild, keys: keys, args: ["9999999999", "41", "apply", "0000000000000000001", "3"])
            #expect(refused.int == -1)
            #expect(try await app.redis.send("EXISTS", .key(keys[0])).int == 0)
            let done = try await app.redis.run(LuaScripts.rankRebuild, keys: keys, args: ["9999999999", "42", "apply", "0000000000000000001", "3"])
            #expect(done.int == 1)
            #expect(try await app.redis.send("ZSCORE", .key(keys[0]), "0000000000000000001").int == 3)
        }
    }

    @Test func withRedisStoppedTheSameAnswerComesFromSQLite() async throws {
        let clock = ManualClock(Self.today)
        try await withTestApp(now: clock.now) { app async throws in
            let ids = try await app.createItems(7, price: 100, stock: 50)
            try await app.charge(user: 1, 100_000)
            try await Self.sell(app, clock, at: Self.at(days: -1), ids.enumerated().map { ($1, 1 + $0 % 3) })
            try await Self.sell(app, clock, at: Self.today, [(ids[6], 4), (ids[0], 2)])
            try await Self.sell(app, clock, at: Self.at(days: -3), [(ids[1], 40)])  // outside
            try await #require(app.client.call(.delete, "/admin/items/\(ids[2])").status == .noContent)
            try await Self.expectPopular(app, [[7, 5, 1], [1, 3, 2], [6, 3, 3], [2, 2, 4], [5, 2, 5]])
            let fromRedis = try await app.client.call(.get, "/items/popular").text
            let page = try await app.client.call(.get, "/items?limit=3").text
            let item = try await app.client.call(.get, "/items/\(ids[6])").text

            app.redisServer.stop()
            #expect(try await app.client.call(.get, "/items/popular").text == fromRedis)
            #expect(try await app.client.call(.get, "/items?limit=3").text == page)
            #expect(try await app.client.call(.get, "/items/\(ids[6])").text == item)

            // Orders go on; SQLite shows them: in stock at once, in the ranking within a second.
            try await Self.sell(app, clock, at: Self.today, [(ids[3], 9)])
            let sold = ContinuousClock.now
            try await waitFor { try await Self.popular(app).rows.first == [Int(ids[3]), 10, 1] }
            #expect(ContinuousClock.now - sold < .seconds(1))
            #expect(try await Self.popular(app).rows.first == [Int(ids[3]), 10, 1])
            #expect(try await app.client.call(.get, "/items/\(ids[3])").json["stock"] as? Int == 50 - 1 - 9)
        }
    }
}
