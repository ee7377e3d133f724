import CommerceStore
@testable import CommerceStoreSQLite
import Foundation
import GRDB
import Synchronization
import Testing
import TestSupport
import RedisClient

/// Faults with the server as a child process: killed with SIGKILL, or left without Redis.
@Suite(.alsoOn(.cluster)) struct OrderFaultTests {
    static let users: [Int64] = Array(1...20)
    static let startingBalance: Int64 = 10_000_000
    static let startingStock: Int64 = 100_000

    /// Items and charged users straight into the database, before the server starts.
    static func seed(_ database: SQLiteStore) async throws -> [Int64] {
        try await database.pool.write { db in
            let items = try (1...5).map { try ItemCatalog.create(db, name: "Item \($0)", price: 100 * Int64($0), stock: startingStock, at: 0).itemID }
            for user in users { _ = try PointLedger.charge(db, userID: user, amount: startingBalance, at: 0) }
            return items
        }
    }

    /// A Redis, a temporary directory and a seeded SQLite file there, for one test.
    struct Store: Sendable {
        let redis: any TestRedis
        let directory: URL
        let path: String
        let database: SQLiteStore
        let items: [Int64]
    }

    static func withSeededStore(_ body: @escaping @Sendable (Store) async throws -> Void) async throws {
        try await withTestRedis { redis async throws in
            try await withTemporaryDirectory { directory async throws in
                let path = directory.appendingPathComponent("c.sqlite").path
                let database = try SQLiteStore(path: path)
                try await body(Store(redis: redis, directory: directory, path: path, database: database, items: try await seed(database)))
            }
        }
    }

    /// What a client was told: the order id and total of every 201.
    final class Acknowledged: Sendable {
        private let orders = Mutex<[Int64: Int64]>([:])
        func add(_ id: Int64, total: Int64) { orders.withLock { $0[id] = total } }
        var all: [Int64: Int64] { orders.withLock { $0 } }
    }

    final class Flag: Sendable {
        private let value = Atomic<Bool>(false)
        func set() { value.store(true, ordering: .relaxed) }
        var isSet: Bool { value.load(ordering: .relaxed) }
    }

    /// Keeps `connections` clients ordering until their connection fails or `stop` is set.
    static func orderContinuously(_ server: CommerceServer, items: [Int64], connections: Int, into acknowledged: Acknowledged, until stop: Flag) async {
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<connections {
                group.addTask {
                    let connection = server.connection()
                    var sequence = 0
                    while !stop.isSet {
                        sequence += 1
                        let user = users[(worker + sequence) % users.count]
                        let item = items[sequence % items.count]
                        guard let reply = try? await connection.call(.post, "/orders",
                            #"{"user_id": \#(user), "items": [{"item_id": \#(item), "quantity": \#(sequence % 3 + 1)}]}"#) else { return }
                        if reply.status == .created, let id = reply.json["order_id"] as? Int, let total = reply.json["total"] as? Int {
                            acknowledged.add(Int64(id), total: Int64(total))
                        }
                    }
                    try? await connection.close()
                }
            }
        }
    }

    /// Stock, balances and ledger agree with the orders table: nothing half-applied.
    static func expectConsistent(_ database: SQLiteStore, items: [Int64]) async throws {
        try await database.read { db in
            for item in items {
                let stock = try Int64.fetchOne(db, sql: "SELECT stock FROM items WHERE id = ?", arguments: [item]) ?? -1
                let sold = try Int64.fetchOne(db, sql: "SELECT COALESCE(SUM(quantity), 0) FROM order_items WHERE item_id = ?", arguments: [item]) ?? -1
                #expect(stock + sold == startingStock, "item \(item)")
            }
            for user in users {
                let balance = try PointLedger.balance(db, userID: user).balance
                let ledger = try Int64.fetchOne(db, sql: "SELECT SUM(amount) FROM point_history WHERE user_id = ?", arguments: [user]) ?? -1
                let spent = try Int64.fetchOne(db, sql: "SELECT COALESCE(SUM(total), 0) FROM orders WHERE user_id = ?", arguments: [user]) ?? -1
                #expect(balance == ledger, "user \(user)")
                #expect(balance == startingBalance - spent, "user \(user)")
            }
            let orphans = try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM orders o WHERE
                    (SELECT COUNT(*) FROM order_items i WHERE i.order_id = o.id) = 0
                 OR (SELECT COUNT(*) FROM point_history h WHERE h.order_id = o.id AND h.kind = 'USE') != 1
                 OR (SELECT SUM(line_total) FROM order_items i WHERE i.order_id = o.id) != o.total
                """)
            #expect(orphans == 0)
        }
    }

    /// The stream's events, in stream order: (event_id, order_id).
    static func streamEvents(_ redis: any RedisClient) async throws -> [(String, Int)] {
        let reply = try await redis.send("XRANGE", .key("stream:orders"), "-", "+")
        return (reply.array ?? []).compactMap { entry in
            guard let fields = entry.array?.last?.array, fields.count == 2, let text = fields[1].string,
                  let event = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                  let id = event["event_id"] as? String, let order = event["order"] as? [String: Any],
                  let orderID = order["order_id"] as? Int else { return nil }
            return (id, orderID)
        }
    }

    @Test func killNineWhileOrdersStreamInLosesNoAcknowledgedOrder() async throws {
        try await Self.withSeededStore { store in
            let (redisServer, directory, path, database, items) = (store.redis, store.directory, store.path, store.database, store.items)
            let log = directory.appendingPathComponent("server.log")
            let server = try await CommerceServer.start(databasePath: path, redisURL: redisServer.url, logFile: log)

            let acknowledged = Acknowledged()
            let stop = Flag()
            async let load: Void = Self.orderContinuously(server, items: items, connections: 16, into: acknowledged, until: stop)
            // Kill while orders stream in: once a good number has been acknowledged.
            try await waitFor { acknowledged.all.count >= 200 }
            server.process.signal(SIGKILL)
            #expect(await server.process.waitForExit() == 128 + SIGKILL)
            stop.set()
            await load
            let promised = acknowledged.all
            #expect(promised.count >= 200, "the load should have placed orders before the kill")

            try await CommerceServer.with(databasePath: path, redisURL: redisServer.url, logFile: log) { restarted in
                let stored = try await database.read { db in
                        try Dictionary(uniqueKeysWithValues: Row.fetchAll(db, sql: "SELECT id, total FROM orders").map { ($0[0] as Int64, $0[1] as Int64) })
                }
                for (id, total) in promised { #expect(stored[id] == total, "order \(id) got a 201") }
                let sample = try #require(promised.keys.max())
                #expect(try await restarted.once { try await $0.call(.get, "/orders/\(sample)") }.status == .ok)
                try await Self.expectConsistent(database, items: items)

                // The relay catches up after the crash: every stored order in the stream once, in order.
                let redis = redisServer.client()
                defer { redis.shutdown() }
                try await waitFor { try await Self.streamEvents(redis).count >= stored.count }
                let events = try await Self.streamEvents(redis)
                #expect(events.map(\.1) == stored.keys.sorted().map(Int.init))
                #expect(Set(events.map(\.0)).count == events.count)
            }
        }
    }

    @Test func withRedisDownOrdersSucceedAndTheirEventsFollowInOrder() async throws {
        try await Self.withSeededStore { store in
            let (redisServer, directory, path, database, items) = (store.redis, store.directory, store.path, store.database, store.items)
            try await CommerceServer.with(databasePath: path, redisURL: redisServer.url,
                                          logFile: directory.appendingPathComponent("server.log")) { server in
                let redis = redisServer.client()
                defer { redis.shutdown() }
                let order = { (n: Int) in #"{"user_id": \#(Self.users[n % Self.users.count]), "items": [{"item_id": \#(items[n % items.count]), "quantity": 1}]}"# }

                for n in 0..<5 { #expect(try await server.once { try await $0.call(.post, "/orders", order(n)) }.status == .created) }
                try await waitFor { try await Self.streamEvents(redis).count == 5 }
                try await redis.sendToEveryPrimary("SAVE") // the stream survives the restart below
                redisServer.stop()

                var placedWhileDown: [Int] = []
                for n in 5..<25 {
                    let reply = try await server.once { try await $0.call(.post, "/orders", order(n)) }
                    #expect(reply.status == .created)
                    if let id = reply.json["order_id"] as? Int { placedWhileDown.append(id) }
                }
                #expect(placedWhileDown.count == 20)
                let waiting = try await database.read { try Outbox.backlog($0, stream: "stream:orders") }
                #expect(waiting == 20)

                try await redisServer.restart()
                try await waitFor { try await Self.streamEvents(redis).count >= 25 }
                let events = try await Self.streamEvents(redis)
                #expect(events.count == 25)
                #expect(Array(events.map(\.1).suffix(20)) == placedWhileDown)
                #expect(events.map(\.1) == events.map(\.1).sorted())
                // The cursor moves in the commit after the append: the stream can be ahead of it briefly.
                let backlog = { try await database.read { try Outbox.backlog($0, stream: "stream:orders") } }
                try await waitFor { try await backlog() == 0 }
                #expect(try await backlog() == 0)
                try await Self.expectConsistent(database, items: items)
            }
        }
    }

    @Test func sigtermStopsTheServerPromptlyAndKeepsEveryAcknowledgedOrder() async throws {
        try await Self.withSeededStore { store in
            let (redisServer, directory, path, database, items) = (store.redis, store.directory, store.path, store.database, store.items)
            let server = try await CommerceServer.start(databasePath: path, redisURL: redisServer.url,
                                                        logFile: directory.appendingPathComponent("server.log"))
            let acknowledged = Acknowledged()
            let stop = Flag()
            async let load: Void = Self.orderContinuously(server, items: items, connections: 8, into: acknowledged, until: stop)
            try await waitFor { acknowledged.all.count >= 100 }
            let started = ContinuousClock.now
            server.process.signal(SIGTERM)
            let status = await server.process.waitForExit(timeout: .seconds(10))
            stop.set()
            await load
            #expect(status == 0, "\(server.process.output)")
            #expect(ContinuousClock.now - started < .seconds(3))
            let stored = try await database.read { try Set(Int64.fetchAll($0, sql: "SELECT id FROM orders")) }
            #expect(Set(acknowledged.all.keys).isSubset(of: stored))
            try await Self.expectConsistent(database, items: items)
        }
    }
}
