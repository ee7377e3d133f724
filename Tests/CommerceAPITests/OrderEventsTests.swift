import Foundation
import GRDB
import Testing
import TestSupport
import CommerceStore
@testable import CommerceStoreSQLite
import RedisClient

@Suite(.alsoOn(.postgres, .cluster)) struct OrderEventsTests {
    /// Runs `commerce consume-orders` (consumer `c1`) against the app's Redis for `body`, with
    /// the event ids it printed so far.
    static func withConsumer(_ app: TestApp, _ body: (ChildProcess, _ printed: @escaping () -> [String]) async throws -> Void) async throws {
        try await withTemporaryDirectory { directory async throws in
            let output = directory.appendingPathComponent("events.jsonl")
            let consumer = try ChildProcess.spawn(
                [try builtExecutable("commerce"), "consume-orders", "--redis", app.redisServer.url, "--consumer", "c1"],
                logFile: output)
            try await body(consumer) {
                ((try? String(contentsOf: output, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { line in
                    (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["event_id"] as? String
                }
            }
        }
    }

    /// Places `count` one-unit orders and waits until the relay has published them all.
    static func placeOrders(_ app: TestApp, count: Int) async throws -> [Int] {
        let item = try await app.createItem(price: 10, stock: 1000)
        try await app.charge(user: 1, 100_000)
        var ids: [Int] = []
        for _ in 0..<count {
            let reply = try await app.client.call(.post, "/orders", #"{"user_id": 1, "items": [{"item_id": \#(item), "quantity": 1}]}"#)
            ids.append(try #require(reply.json["order_id"] as? Int))
        }
        try await waitFor { try await OrderFaultTests.streamEvents(app.redis).count == count }
        return ids
    }

    @Test func everyPaidOrderIsPublishedOnceInCommitOrderAsTheContractShowsIt() async throws {
        try await withTestApp { app async throws in
            let ids = try await Self.placeOrders(app, count: 5)
            let entries = try await app.redis.send("XRANGE", .key("stream:orders"), "-", "+").array ?? []
            #expect(entries.count == 5)
            for (entry, id) in zip(entries, ids) {
                let fields = entry.array?.last?.array ?? []
                #expect(fields.first?.string == "event")
                let event = try JSONSerialization.jsonObject(with: Data((fields.last?.string ?? "").utf8)) as? [String: Any] ?? [:]
                #expect(event["event_id"] as? String == "order-\(id)")
                #expect(event["type"] as? String == "order.paid")
                let order = event["order"] as? [String: Any] ?? [:]
                let fetched = try await app.client.call(.get, "/orders/\(id)").json
                #expect(NSDictionary(dictionary: order).isEqual(to: fetched))
            }
            #expect(try await app.database.outbox.backlog(sink: "stream:orders") == 0)
        }
    }

    @Test func aRelayRetryAfterACrashBeforeMarkingSentDoesNotRepeatEvents() async throws {
        try await withTestApp { app async throws in
            _ = try await Self.placeOrders(app, count: 4)
            // As if the relay died after appending but before the database recorded it.
            try await app.database.outbox.rewind(sink: "stream:orders", to: 0, at: 0)
            try await waitFor { try await app.database.outbox.backlog(sink: "stream:orders") == 0 }
            #expect(try await app.database.outbox.backlog(sink: "stream:orders") == 0)
            #expect(try await app.redis.send("XLEN", .key("stream:orders")).int == 4)
        }
    }

    @Test func eventsRedisLostAfterAcknowledgingThemArePublishedAgain() async throws {
        try await withTestApp { app async throws in
            let ids = try await Self.placeOrders(app, count: 5)
            // As if Redis crashed and its append-only file lacked the last three appends.
            let entryIDs = (try await app.redis.send("XRANGE", .key("stream:orders"), "-", "+").array ?? []).compactMap { $0.array?.first?.string }
            for lost in entryIDs.suffix(3) { try await app.redis.send("XDEL", .key("stream:orders"), RedisArgument(lost)) }
            let positions = try await app.database.outbox.pending(sink: "a copy from the start", limit: 10).entries.map(\.position)
            try await app.redis.send("SET", .key("{stream:orders}:published"), RedisArgument(positions[1]))

            let item = try await app.createItem(price: 1, stock: 1)
            let next = try await app.client.call(.post, "/orders", #"{"user_id": 1, "items": [{"item_id": \#(item), "quantity": 1}]}"#)
            let nextID = try #require(next.json["order_id"] as? Int)
            try await waitFor { try await OrderFaultTests.streamEvents(app.redis).count >= 6 }
            let events = try await OrderFaultTests.streamEvents(app.redis)
            #expect(events.map(\.1) == ids + [nextID])
        }
    }

    @Test func consumeOrdersPrintsEveryEventAndFirstItsOwnUnacknowledgedOnes() async throws {
        try await withTestApp { app async throws in
            let ids = try await Self.placeOrders(app, count: 6)
            // A consumer "c1" received two events and crashed before acknowledging them.
            try await app.redis.send("XGROUP", "CREATE", .key("stream:orders"), "platform", "0")
            let delivered = try await app.redis.send("XREADGROUP", "GROUP", "platform", "c1", "COUNT", "2", "STREAMS", .key("stream:orders"), ">")
            #expect(delivered.array?.first?.array?.last?.array?.count == 2)

            try await withTemporaryDirectory { directory async throws in
                let output = directory.appendingPathComponent("events.jsonl")
                let consumer = try ChildProcess.spawn(
                    [try builtExecutable("commerce"), "consume-orders", "--redis", app.redisServer.url,
                     "--group", "platform", "--consumer", "c1"], logFile: output)
                let lines = { (try? String(contentsOf: output, encoding: .utf8))?.split(separator: "\n").filter { $0.hasPrefix("{") } ?? [] }
                try await waitFor { lines().count >= 6 }
                consumer.signal(SIGTERM)
                #expect(await consumer.waitForExit() == 0, "\(consumer.output)")

                let printed = lines().compactMap { line in
                    (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["event_id"] as? String
                }
                #expect(printed == ids.map { "order-\($0)" })
                let pending = try await app.redis.send("XPENDING", .key("stream:orders"), "platform").array?.first?.int
                #expect(pending == 0)
            }
        }
    }

    @Test func consumeOrdersWaitsOutARedisOutageAndCarriesOn() async throws {
        try await withTestApp { app async throws in
            let before = try await Self.placeOrders(app, count: 2)
            try await Self.withConsumer(app) { consumer, printed in
                try await waitFor { printed().count >= 2 }
                // Printed comes before acknowledged: a snapshot between them would bring the last
                // one back as pending (delivery is at least once), which is not what this tests.
                try await waitFor {
                    try await app.redis.send("XPENDING", .key("stream:orders"), "data-platform").array?.first?.int == 0
                }
                try await app.redis.sendToEveryPrimary("SAVE") // the stream and the group survive the restart
                app.redisServer.stop()
                try await Task.sleep(for: .seconds(1))
                try await app.redisServer.restart()

                let item = try await app.createItem(price: 1, stock: 10)
                var after: [Int] = []
                for _ in 0..<2 {
                    let reply = try await app.client.call(.post, "/orders", #"{"user_id": 1, "items": [{"item_id": \#(item), "quantity": 1}]}"#)
                    after.append(try #require(reply.json["order_id"] as? Int))
                }
                try await waitFor { printed().count >= 4 }
                consumer.signal(SIGTERM)
                #expect(await consumer.waitForExit() == 0, "\(consumer.output)")
                #expect(printed() == (before + after).map { "order-\($0)" })
                #expect(consumer.output.contains("Redis unreachable"))
            }
        }
    }

    /// A flush takes the stream and the consumer group: `consume-orders` makes the group again
    /// and prints every event, the lost ones again (it used to exit on NOGROUP).
    @Test func consumeOrdersCarriesOnAfterRedisLostTheStreamAndItsGroup() async throws {
        try await withTestApp { app async throws in
            let before = try await Self.placeOrders(app, count: 2)
            try await Self.withConsumer(app) { consumer, printed in
                try await waitFor { printed().count >= 2 }
                try await app.redis.sendToEveryPrimary("FLUSHALL")
                let item = try await app.createItem(price: 1, stock: 10)
                let reply = try await app.client.call(.post, "/orders", #"{"user_id": 1, "items": [{"item_id": \#(item), "quantity": 1}]}"#)
                let after = try #require(reply.json["order_id"] as? Int)
                try await waitFor { Set(printed()).contains("order-\(after)") && printed().count >= 5 }
                consumer.signal(SIGTERM)
                #expect(await consumer.waitForExit() == 0, "\(consumer.output)")
                #expect(Set(printed()) == Set((before + [after]).map { "order-\($0)" }), "every event, the lost ones again")
                #expect(printed().count >= 5, "the two lost ones printed twice: \(printed())")
            }
        }
    }
}
