import Foundation
#if canImport(Glibc)
import Glibc
#endif
import HTTPTypes
import HummingbirdTesting
import RedisClient
import Synchronization
import Testing
import TestSupport

/// Two `commerce serve` processes sharing one PostgreSQL database and one Redis, requests spread
/// over both: what a shop behind a load balancer runs.
@Suite(.alsoOn(.postgres, .clusterPostgres), .enabled(if: TestDatabase.isPostgres, "several processes share PostgreSQL only"))
struct SharedDatabaseTests {
    /// Two servers on a fresh database of the shared PostgreSQL and a fresh Redis.
    struct Pair: Sendable {
        let servers: [CommerceServer]
        let redis: any RedisClient
        let redisServer: any TestRedis
        let sql: TestSQL
        let databaseURL: String
        let directory: URL

        /// How many Redis repairs the two servers' logs report as done.
        var repairsDone: Int {
            servers.map { $0.process.output.components(separatedBy: "redis repair: done").count - 1 }.reduce(0, +)
        }

        /// What the two servers logged about Redis, its data and the repairs (for a failure's message).
        var repairLog: String {
            servers.enumerated().flatMap { index, server in
                server.process.output.split(separator: "\n")
                    .filter { $0.contains("redis") || $0.contains("reconcile") }
                    .map { "server \(index): \($0)" }
            }.joined(separator: "\n")
        }

        /// A server by turn: request `index` goes to server `index % 2`.
        func server(_ index: Int) -> CommerceServer { servers[index % servers.count] }

        /// The same pair with requests sent to server `index` only.
        func only(_ index: Int) -> Pair {
            Pair(servers: [servers[index]], redis: redis, redisServer: redisServer, sql: sql, databaseURL: databaseURL, directory: directory)
        }
    }

    static func withPair(arguments: [String] = [], _ body: @escaping @Sendable (Pair) async throws -> Void) async throws {
        try await withTestRedis { redisServer async throws in
            try await withTemporaryDirectory { directory async throws in
                let server = try await PostgresServer.shared()
                let database = try server.freshDatabase()
                let url = server.url(database: database)
                let sql = TestSQL.postgres(server, database: database)
                let redis = redisServer.client()
                defer { redis.shutdown() }
                let first = try await CommerceServer.start(databasePath: url, redisURL: redisServer.url,
                                                           logFile: directory.appendingPathComponent("a.log"), arguments: arguments)
                do {
                    let second = try await CommerceServer.start(databasePath: url, redisURL: redisServer.url,
                                                                logFile: directory.appendingPathComponent("b.log"), arguments: arguments)
                    do {
                        try await body(Pair(servers: [first, second], redis: redis, redisServer: redisServer, sql: sql,
                                            databaseURL: url, directory: directory))
                    } catch {
                        await second.process.stop()
                        throw error
                    }
                    await second.process.stop()
                } catch {
                    await first.process.stop()
                    throw error
                }
                await first.process.stop()
            }
        }
    }

    /// Runs `send` for the indexes `0..<count` over `connections` connections, each opened on one
    /// of the two servers by turn and taking the next index as soon as its last call is done;
    /// `send` may replace its connection (its server went away).
    static func eachRequest(_ pair: Pair, count: Int, connections: Int,
                            _ send: @escaping @Sendable (_ index: Int, _ connection: inout TestClient) async throws -> Void) async throws {
        let next = Ticket()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<connections {
                group.addTask {
                    var connection = pair.server(worker).connection()
                    while case let index = next.take(), index < count {
                        try await send(index, &connection)
                    }
                    try? await connection.close()
                }
            }
            try await group.waitForAll()
        }
    }

    /// Sends `requests` (path and body, by index) as ``eachRequest(_:count:connections:_:)`` does;
    /// the status and JSON body of every answer, by index.
    static func spread(_ pair: Pair, count: Int, connections: Int, headers: HTTPFields = [:],
                       _ request: @escaping @Sendable (Int) -> (String, String)) async throws -> [Int: (status: Int, json: [String: Any])] {
        let replies = Mutex<[Int: (Int, Data)]>([:])
        try await eachRequest(pair, count: count, connections: connections) { index, connection in
            let (path, body) = request(index)
            let reply = try await connection.call(.post, path, body, headers: headers)
            replies.withLock { $0[index] = (Int(reply.status.code), Data(reply.body.readableBytesView)) }
        }
        return replies.withLock { $0 }.mapValues { status, body in
            (status, (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:])
        }
    }

    @Test func aCouponBurstOverTwoProcessesIssuesExactlyTheStock() async throws {
        try await Self.withPair { pair in
            let created = try await pair.server(0).once {
                try await $0.call(.post, "/admin/coupons", #"{"name": "Flash", "discount_type": "FIXED", "discount_value": 1000, "stock": 1000, "valid_from": "2020-01-01T00:00:00Z", "valid_until": "2099-01-01T00:00:00Z"}"#)
            }
            let coupon = try #require(created.json["coupon_id"] as? Int)
            let replies = try await Self.spread(pair, count: 5_000, connections: 256) { index in
                ("/coupons/issue", #"{"user_id": \#(index + 1), "coupon_id": \#(coupon)}"#)
            }
            #expect(replies.count == 5_000)
            let issued = replies.filter { $0.value.status == 201 }.map { Int64($0.key + 1) }.sorted()
            #expect(issued.count == 1_000)
            #expect(replies.filter { $0.value.status == 409 && $0.value.json["code"] as? String == "COUPON_SOLD_OUT" }.count == 4_000)
            let rows = try await pair.sql.strings("SELECT user_id FROM user_coupons WHERE coupon_id = \(coupon) ORDER BY user_id")
            #expect(rows.compactMap { Int64($0) } == issued, "exactly the users told 201 hold a row")
            #expect(try await pair.redis.send("GET", .key("coupon:{\(coupon)}:remaining")).int == 0)
        }
    }

    @Test func fortyBuyersOverTwoProcessesNeverOversellOverspendOrMissAnEvent() async throws {
        try await Self.withPair { pair in
            var items: [Int] = []
            for index in 1...5 {
                let reply = try await pair.server(index).once {
                    try await $0.call(.post, "/admin/items", #"{"name": "Item \#(index)", "price": \#(100 * index), "stock": 60}"#)
                }
                items.append(try #require(reply.json["item_id"] as? Int))
            }
            // Enough points for some orders, not all: balances run out as well as stock.
            for buyer in 1...40 {
                let reply = try await pair.server(buyer).once {
                    try await $0.call(.post, "/points/charge", #"{"user_id": \#(buyer), "amount": 5000}"#)
                }
                #expect(reply.status == .ok)
            }
            let replies = try await Self.spread(pair, count: 800, connections: 40) { [items] (index: Int) -> (String, String) in
                let buyer = index % 40 + 1, first = items[index % 5], second = items[(index / 5) % 5]
                let lines = first == second ? #"{"item_id": \#(first), "quantity": 2}"#
                    : #"{"item_id": \#(first), "quantity": 1}, {"item_id": \#(second), "quantity": 1}"#
                return ("/orders", #"{"user_id": \#(buyer), "items": [\#(lines)]}"#)
            }
            let placed = replies.values.filter { $0.status == 201 }
            #expect(replies.values.allSatisfy { [201, 409].contains($0.status) }, "every answer a 201 or a refusal")
            #expect(!placed.isEmpty)

            // Stock: never below 0, and what is left plus what sold is what there was.
            for item in items {
                let stock = try #require(try await pair.sql.int("SELECT stock FROM items WHERE id = \(item)"))
                let sold = try await pair.sql.int("SELECT COALESCE(SUM(quantity), 0) FROM order_items WHERE item_id = \(item)") ?? -1
                #expect(stock >= 0 && stock + sold == 60, "item \(item): \(stock) left, \(sold) sold")
            }
            // Balances: never below 0, each the sum of its ledger.
            #expect(try await pair.sql.int("SELECT COUNT(*) FROM user_point WHERE balance < 0") == 0)
            #expect(try await pair.sql.int("""
                SELECT COUNT(*) FROM user_point p
                WHERE p.balance <> (SELECT SUM(amount) FROM point_history h WHERE h.user_id = p.user_id)
                """) == 0)

            // Every 201's order in the stream exactly once, and counted once in the ranking.
            let orderIDs = placed.compactMap { $0.json["order_id"] as? Int }.sorted()
            try await waitFor { try await OrderFaultTests.streamEvents(pair.redis).count >= orderIDs.count }
            try await Task.sleep(for: .milliseconds(300))  // a late duplicate would show by now
            let streamed = try await OrderFaultTests.streamEvents(pair.redis).map(\.1)
            #expect(streamed.sorted() == orderIDs)
            var sold: [Int: Int] = [:]
            for item in items {
                sold[item] = Int(try await pair.sql.int("SELECT COALESCE(SUM(quantity), 0) FROM order_items WHERE item_id = \(item)") ?? -1)
            }
            let ranked = { @Sendable () async throws -> [Int: Int] in
                let popular = try await pair.server(0).once { try await $0.call(.get, "/items/popular") }
                return (popular.json["items"] as? [[String: Any]] ?? []).reduce(into: [Int: Int]()) {
                    $0[$1["item_id"] as? Int ?? 0] = $1["sold"] as? Int
                }
            }
            let expected = sold.filter { $0.value > 0 }
            try await waitFor { try await ranked() == expected }
            #expect(try await ranked() == expected, "every unit sold counted once in the ranking")
        }
    }

    @Test func oneIdempotencyKeySentToBothProcessesAtOnceChargesOnce() async throws {
        try await Self.withPair { pair in
            let keys = 30
            // Each key goes to both servers at the same moment (two connections, one per server).
            let replies = try await withThrowingTaskGroup(of: (Int, Int, String).self) { group in
                for key in 0..<keys {
                    for side in 0..<2 {
                        group.addTask {
                            let reply = try await pair.server(side).once {
                                try await $0.call(.post, "/points/charge", #"{"user_id": 5, "amount": 100}"#,
                                                  headers: [.init("Idempotency-Key")!: "key-\(key)"])
                            }
                            return (key, Int(reply.status.code), reply.text)
                        }
                    }
                }
                return try await group.reduce(into: [Int: [(Int, String)]]()) { $0[$1.0, default: []].append(($1.1, $1.2)) }
            }
            for (key, pair) in replies {
                #expect(pair.count == 2 && pair.allSatisfy { $0.0 == 200 }, "key \(key): \(pair)")
                #expect(pair[0].1 == pair[1].1, "key \(key): the replay is the first answer, byte for byte")
            }
            #expect(try await pair.sql.int("SELECT balance FROM user_point WHERE user_id = 5") == Int64(keys * 100))
            #expect(try await pair.sql.int("SELECT COUNT(*) FROM point_history WHERE user_id = 5") == Int64(keys))
        }
    }

    /// A coupon of `stock` created through the first server; its id.
    static func createCoupon(_ pair: Pair, stock: Int) async throws -> Int {
        let created = try await pair.server(0).once {
            try await $0.call(.post, "/admin/coupons", #"{"name": "Flash", "discount_type": "FIXED", "discount_value": 1000, "stock": \#(stock), "valid_from": "2020-01-01T00:00:00Z", "valid_until": "2099-01-01T00:00:00Z"}"#)
        }
        return try #require(created.json["coupon_id"] as? Int)
    }

    /// What the database and Redis hold for the coupon: users with a row, users in Redis's
    /// issued hash (both ascending), and Redis's remaining stock.
    static func holdings(_ pair: Pair, coupon: Int) async throws -> (rows: [Int64], redis: [Int64], remaining: Int64?) {
        let rows = try await pair.sql.strings("SELECT user_id FROM user_coupons WHERE coupon_id = \(coupon) ORDER BY user_id")
        let issued = try await pair.redis.send("HKEYS", .key("coupon:{\(coupon)}:issued")).array?.compactMap(\.int).sorted() ?? []
        let remaining = try await pair.redis.send("GET", .key("coupon:{\(coupon)}:remaining")).int
        return (rows.compactMap { Int64($0) }, issued, remaining)
    }

    /// Users told 201 so far.
    final class Issued: Sendable {
        private let users = Mutex<[Int64]>([])
        func add(_ user: Int64) { users.withLock { $0.append(user) } }
        var all: [Int64] { users.withLock { $0 } }
    }

    @Test func killingOneProcessMidBurstLosesNothingOnceReconciled() async throws {
        try await Self.withPair { pair in
            let coupon = try await Self.createCoupon(pair, stock: 1_000)
            let issued = Issued()
            async let burst: Void = Self.eachRequest(pair, count: 3_000, connections: 128) { index, connection in
                let user = index + 1
                do {
                    let reply = try await connection.call(.post, "/coupons/issue", #"{"user_id": \#(user), "coupon_id": \#(coupon)}"#)
                    if reply.status == .created { issued.add(Int64(user)) }
                } catch {
                    // Its server was killed: this user's answer is unknown; go on with the other server.
                    try? await connection.close()
                    connection = pair.server(1).connection()
                }
            }
            try await waitFor { issued.all.count >= 300 }
            pair.servers[0].process.signal(SIGKILL)
            #expect(await pair.servers[0].process.waitForExit() == 128 + SIGKILL)
            try await burst

            let (status, report) = try await ReconcileTests.runCLI(databasePath: pair.databaseURL, redisURL: pair.redisServer.url,
                                                                   directory: pair.directory)
            #expect(status == 0, "reconcile: \(report)")
            let (rows, inRedis, remaining) = try await Self.holdings(pair, coupon: coupon)
            let told = Set(issued.all)
            #expect(told.count == issued.all.count, "no user told 201 twice")
            #expect(told.isSubset(of: Set(rows)), "0 lost: every user told 201 holds a row")
            #expect(Set(rows).count == rows.count && rows == inRedis, "0 double: one row per holder, the same holders in Redis")
            #expect(rows.count == 1_000 && remaining == 0, "\(rows.count) rows, \(remaining ?? -1) remaining")
        }
    }

    @Test func redisBackFromAnOlderSnapshotMidBurstIsRepairedOnceAndBothIssueExactlyTheStock() async throws {
        try await Self.withPair(arguments: ["--log-level", "notice"]) { pair in
            let coupon = try await Self.createCoupon(pair, stock: 300)
            let issued = Issued()
            let unanswered = Issued()  // neither 201 nor 409 after 20 s of retries
            // Paced (16 connections, a pause between requests), so that the snapshot and the
            // crash fall well apart in the burst and the restarted Redis really lacks issuances.
            async let burst: Void = Self.eachRequest(pair, count: 1_000, connections: 16) { index, connection in
                let user = Int64(index + 1)
                let reply = try await RedisLossTests.issueRetrying(connection, user: user, coupon: Int64(coupon), patience: .seconds(20))
                if reply.status == .created { issued.add(user) } else if reply.status != 409 { unanswered.add(user) }
                try await Task.sleep(for: .milliseconds(10))
            }
            let issuedKey = "coupon:{\(coupon)}:issued"
            try await waitFor { issued.all.count >= 50 }
            try await pair.redis.sendToEveryPrimary("SAVE")  // the snapshot Redis comes back from
            let inSnapshot = Int(try #require(try await pair.redis.send("HLEN", .key(issuedKey)).int))
            try await waitFor { issued.all.count >= inSnapshot + 100 }
            let repairsBefore = pair.repairsDone
            let toldBeforeCrash = issued.all.count
            pair.redisServer.stop()  // SIGTERM without save points: nothing after the SAVE is kept
            try await pair.redisServer.restart()
            #expect(toldBeforeCrash >= inSnapshot + 100, "Redis came back without \(toldBeforeCrash - inSnapshot) acknowledged issuances")
            try await burst
            // The burst may be over before Redis is back (a cluster takes a second or two to
            // restart), sold out from the processes' memory: the repair comes all the same.
            try await waitFor { pair.repairsDone - repairsBefore >= 1 }

            #expect(unanswered.all.isEmpty, "users without an answer: \(unanswered.all); the servers said:\n\(pair.repairLog)")
            let told = issued.all
            #expect(told.count == 300 && Set(told).count == 300, "exactly the stock told 201, each user once: \(told.count)")
            let (rows, inRedis, remaining) = try await Self.holdings(pair, coupon: coupon)
            #expect(rows == told.sorted(), "the users told 201 are the holders")
            #expect(inRedis == rows)
            #expect(remaining == 0)
            #expect(pair.repairsDone - repairsBefore == 1, "one process repaired, the other waited for it")
        }
    }

    @Test func afterASellOutHoldersAreToldSoOnBothProcessesAndARestockReachesBoth() async throws {
        try await Self.withPair { pair in
            let coupon = try await Self.createCoupon(pair, stock: 100)
            // Sold out through the first process only: the second never sees it happen.
            let sellOut = try await Self.spread(pair.only(0), count: 150, connections: 16) { index in
                ("/coupons/issue", #"{"user_id": \#(index + 1), "coupon_id": \#(coupon)}"#)
            }
            let holders = Set(sellOut.filter { $0.value.status == 201 }.map { Int64($0.key + 1) })
            #expect(holders.count == 100)

            // Every user of 1...200 asks three times, spread over both processes, 32 connections
            // at once: holders are told they hold it, everyone else that it is sold out.
            for round in 1...2 {
                let replies = try await Self.spread(pair, count: 600, connections: 32) { index in
                    ("/coupons/issue", #"{"user_id": \#(index % 200 + 1), "coupon_id": \#(coupon)}"#)
                }
                for (index, reply) in replies {
                    let user = Int64(index % 200 + 1)
                    let expected = holders.contains(user) ? "COUPON_ALREADY_ISSUED" : "COUPON_SOLD_OUT"
                    #expect(reply.status == 409 && reply.json["code"] as? String == expected,
                            "round \(round), user \(user): \(reply.status) \(reply.json)")
                }
                try await Task.sleep(for: .milliseconds(1_200))  // the second round after the flags expired
            }

            // A restock of 50 through the first process reaches the second within 2 s.
            let raised = try await pair.server(0).once { try await $0.call(.patch, "/admin/coupons/\(coupon)", #"{"stock": 150}"#) }
            #expect(raised.status == .ok && raised.json["remaining"] as? Int64 == 50)
            let start = ContinuousClock.now
            var firstUser: Int64 = 1_000
            while try await pair.server(1).once({ try await $0.call(.post, "/coupons/issue", #"{"user_id": \#(firstUser), "coupon_id": \#(coupon)}"#) }).status != .created {
                firstUser += 1
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(ContinuousClock.now - start < .seconds(2), "the second process issued again \(ContinuousClock.now - start) after the restock")
            let more = try await Self.spread(pair, count: 300, connections: 32) { index in
                ("/coupons/issue", #"{"user_id": \#(2_001 + index), "coupon_id": \#(coupon)}"#)
            }
            #expect(more.filter { $0.value.status == 201 }.count == 49, "exactly 50 more, one of them user \(firstUser)")
            #expect(more.filter { $0.value.json["code"] as? String == "COUPON_SOLD_OUT" }.count == 251)

            // A cut below the 150 issued, through the second process: refused, nothing changed.
            let cut = try await pair.server(1).once { try await $0.call(.patch, "/admin/coupons/\(coupon)", #"{"stock": 120}"#) }
            #expect(cut.status == .conflict && cut.json["code"] as? String == "COUPON_STOCK_BELOW_ISSUED")
            let (rows, inRedis, remaining) = try await Self.holdings(pair, coupon: coupon)
            #expect(rows.count == 150 && inRedis == rows && remaining == 0)
            #expect(try await pair.sql.int("SELECT stock FROM coupons WHERE id = \(coupon)") == 150)
        }
    }
}
