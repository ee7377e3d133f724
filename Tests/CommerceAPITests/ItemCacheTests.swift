import CommerceStore
import Foundation
import HummingbirdTesting
import LuaScripts
import RedisClient
import Synchronization
import Testing
@testable import CommerceAPI
@testable import CommerceCore

/// Units ordered per item whose 201 has arrived: a read that starts later must show them.
final class AcknowledgedUnits: Sendable {
    private let units = Mutex<[Int64: Int64]>([:])

    func add(_ quantity: Int64, to item: Int64) { units.withLock { $0[item, default: 0] += quantity } }
    var snapshot: [Int64: Int64] { units.withLock { $0 } }
}

/// A count shared by concurrent tasks.
final class Counter: Sendable {
    private let value = Atomic<Int>(0)
    func add() { value.add(1, ordering: .relaxed) }
    var count: Int { value.load(ordering: .relaxed) }
}

/// Findings collected from concurrent tasks.
final class Findings: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}

/// The item cache: stock is exact after an order's 201, however readers and orders interleave,
/// and whether or not Redis is there.
@Suite(.alsoOn(.postgres, .cluster)) struct ItemCacheTests {
    static let initialStock: Int64 = 1_000_000

    /// Stocks in a `GET /items/{id}`, `GET /items` or `GET /items/popular` reply, by item id.
    static func stocks(_ reply: Reply) -> [Int64: Int64] {
        let items = reply.json["items"] as? [[String: Any]] ?? [reply.json]
        var stocks: [Int64: Int64] = [:]
        for item in items {
            if let id = item["item_id"] as? Int64, let stock = item["stock"] as? Int64 { stocks[id] = stock }
        }
        return stocks
    }

    /// Items whose stock in `reply` leaves out units acknowledged before the read started.
    static func stale(_ reply: Reply, acknowledgedBefore floor: [Int64: Int64]) -> [Int64] {
        stocks(reply).filter { id, stock in stock > initialStock - (floor[id] ?? 0) }.map(\.key)
    }

    @Test func afterEveryOrdersCreatedTheNextReadIncludesIt() async throws {
        try await withTestApp { app async throws in
            var created: [Int64] = []
            for n in 0..<4 { created.append(try await app.createItem(name: "Hot \(n)", price: 1, stock: Self.initialStock)) }
            let items = created
            for user in 1...8 { try await app.charge(user: Int64(user), 1_000_000) }
            let acknowledged = AcknowledgedUnits()
            let staleReads = Findings()
            let reads = Counter()
            let buyersDone = Counter()
            let ordering = 8

            /// One read through `client`, checked against what was acknowledged when it started.
            let checkedRead = { @Sendable (client: TestClient, uri: String) async throws in
                let floor = acknowledged.snapshot
                let reply = try await client.call(.get, uri)
                #expect(reply.status == .ok)
                reads.add()
                let stale = Self.stale(reply, acknowledgedBefore: floor)
                if !stale.isEmpty { staleReads.append("\(uri): items \(stale)") }
            }

            try await withThrowingTaskGroup(of: Void.self) { group in
                // Readers hammer the item, listing and popular routes (which fill the cache) all along.
                for reader in 0..<8 {
                    group.addTask {
                        let client = app.connection()
                        var n = reader
                        while buyersDone.count < ordering {
                            n += 1
                            let uri = switch n % 4 {
                            case 0: "/items?limit=20"
                            case 1: "/items/popular"
                            default: "/items/\(items[n % items.count])"
                            }
                            try await checkedRead(client, uri)
                        }
                    }
                }
                // Buyers: after each 201, the very next reads must include the order.
                for buyer in 1...ordering {
                    group.addTask {
                        defer { buyersDone.add() }
                        let client = app.connection()
                        for n in 0..<40 {
                            let item = items[(buyer + n) % items.count]
                            let quantity = 1 + (buyer * n) % 3
                            let reply = try await client.call(.post, "/orders", orderBody(user: Int64(buyer), [(item, quantity)]))
                            #expect(reply.status == .created)
                            guard reply.status == .created else { continue }
                            acknowledged.add(Int64(quantity), to: item)
                            try await checkedRead(client, "/items/\(item)")
                            try await checkedRead(client, "/items?limit=20")
                            try await checkedRead(client, "/items/popular")
                        }
                    }
                }
                try await group.waitForAll()
            }

            #expect(staleReads.all == [])
            #expect(reads.count > 960)
            let final = acknowledged.snapshot
            #expect(final.values.reduce(0, +) > 0)
            for item in items {
                #expect(try await app.stock(of: item) == Self.initialStock - (final[item] ?? 0))
                let shown = Self.stocks(try await app.client.call(.get, "/items/\(item)"))[item]
                #expect(shown == Self.initialStock - (final[item] ?? 0))
                // The reads really went through the cache: it holds the item now.
                #expect(try await app.redis.send("HEXISTS", .key(ItemCache.itemKey(item)), "item").int == 1)
            }
        }
    }

    @Test func aSlowReaderCannotPutBackAValueOlderThanAnInvalidation() async throws {
        try await withTestApp { app async throws in
            let item = try await app.createItem(price: 5, stock: 10)
            #expect(try await app.client.call(.get, "/items/\(item)").status == .ok)
            let key = ItemCache.itemKey(item)
            // The reader looks (sees the version), then an order commits and invalidates, then
            // the reader tries to store what it read before the order.
            let seen = try #require(try await app.redis.send("HGET", .key(key), "v").string)
            let invalidated = try await app.redis.run(LuaScripts.cacheInvalidate, keys: [key], args: ["60000"])
            #expect(invalidated.string != seen)
            let refused = try await app.redis.run(LuaScripts.cacheFill, keys: [key], args: [RedisArgument(seen), "item", "5 10 Thing", "60000"])
            #expect(refused.int == 0)
            #expect(try await app.redis.send("HEXISTS", .key(key), "item").int == 0)
            // A reader that looked after the invalidation may fill.
            let current = try #require(try await app.redis.send("HGET", .key(key), "v").string)
            let stored = try await app.redis.run(LuaScripts.cacheFill, keys: [key], args: [RedisArgument(current), "item", "5 9 Thing", "60000"])
            #expect(stored.int == 1)
            // A key that never existed refuses a reader who saw a version.
            let fresh = ItemCache.itemKey(999)
            #expect(try await app.redis.run(LuaScripts.cacheFill, keys: [fresh], args: ["3", "item", "x", "60000"]).int == 0)
        }
    }

    @Test func invalidationsMissedWhileRedisWasDownAreMadeUpBeforeTheCacheIsTrustedAgain() async throws {
        try await withTestApp { app async throws in
            let item = try await app.createItem(name: "Lamp", price: 100, stock: 10)
            try await app.charge(user: 1, 10_000)
            #expect(Self.stocks(try await app.client.call(.get, "/items/\(item)"))[item] == 10)
            #expect(Self.stocks(try await app.client.call(.get, "/items?limit=20"))[item] == 10)
            try await app.redis.sendToEveryPrimary("SAVE")  // the restarted Redis comes back with stock 10 cached
            app.redisServer.stop()

            #expect(try await app.order(user: 1, [(item, 3)]).status == .created)
            #expect(Self.stocks(try await app.client.call(.get, "/items/\(item)"))[item] == 7)
            #expect(Self.stocks(try await app.client.call(.get, "/items?limit=20"))[item] == 7)

            try await app.redisServer.restart()
            for _ in 0..<20 {  // before, during and after the retried invalidation
                #expect(Self.stocks(try await app.client.call(.get, "/items/\(item)"))[item] == 7)
                #expect(Self.stocks(try await app.client.call(.get, "/items?limit=20"))[item] == 7)
                try await Task.sleep(for: .milliseconds(50))
            }
            // Trusted again: the cache was refilled with the new stock.
            let cached = try await app.redis.send("HGET", .key(ItemCache.itemKey(item)), "item").string
            #expect(cached == "100 7 Lamp")
        }
    }
}
