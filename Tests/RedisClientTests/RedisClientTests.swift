import NIOCore
import Testing
import TestSupport
@testable import RedisClient

@Suite struct RedisClientTests {
    @Test func tenThousandConcurrentCallersEachGetTheirOwnReply() async throws {
        try await RedisServer.with { server async throws in
            let client = server.client(commandTimeout: .seconds(5))
            defer { client.shutdown() }
            let mismatches = try await withThrowingTaskGroup(of: Int.self) { group in
                for i in 0..<10_000 {
                    group.addTask {
                        let reply = try await client.send("ECHO", RedisArgument("caller-\(i)"))
                        return reply.string == "caller-\(i)" ? 0 : 1
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(mismatches == 0)
        }
    }

    @Test func interleavedCommandTypesKeepTheirOrder() async throws {
        try await RedisServer.with { server async throws in
            let client = server.client(poolSize: 1)
            defer { client.shutdown() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<2_000 {
                    group.addTask {
                        let key = "counter:\(i)"
                        let first = try await client.send("INCRBY", .key(key), RedisArgument(i))
                        #expect(first == .integer(Int64(i)))
                        let text = try await client.send("GET", .key(key))
                        #expect(text == .bulk(Array(String(i).utf8)))
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    @Test func repliesAreTyped() async throws {
        try await RedisServer.with { server async throws in
            let client = server.client()
            defer { client.shutdown() }
            #expect(try await client.send("SET", .key("k"), "v") == .status("OK"))
            #expect(try await client.send("GET", .key("k")) == .bulk(Array("v".utf8)))
            #expect(try await client.send("GET", .key("missing")) == .null)
            #expect(try await client.send("INCR", .key("n")) == .integer(1))
            #expect(try await client.send("RPUSH", .key("l"), "a", "b") == .integer(2))
            #expect(try await client.send("LRANGE", .key("l"), 0, -1) == .array([.bulk([97]), .bulk([98])]))
            #expect(try await client.send("EVAL", "return {1, 'x', redis.error_reply('ERR inner')}", 0)
                == .array([.integer(1), .bulk([120]), .error("ERR inner")]))
            let error = await #expect(throws: RedisError.self) { try await client.send("INCR", .key("k")) }
            #expect(error?.code == .server)
            #expect(error?.message.hasPrefix("ERR value is not an integer") == true)
        }
    }

    @Test func binarySafeValuesRoundTrip() async throws {
        try await RedisServer.with { server async throws in
            let client = server.client()
            defer { client.shutdown() }
            let everyByte = (0...255).map { UInt8($0) } + Array("\r\n$3\r\n*1\r\n".utf8) + [0, 0]
            let key = RedisArgument(bytes: [0, 13, 10, 255, 32]).asKey
            try await client.send("SET", key, RedisArgument(bytes: everyByte))
            #expect(try await client.send("GET", key).bytes == everyByte)
            try await client.send("SET", .key("empty"), RedisArgument(bytes: []))
            #expect(try await client.send("GET", .key("empty")) == .bulk([]))
            let unicode = "쿠폰 🎟️ coupon"
            try await client.send("SET", .key("unicode"), RedisArgument(unicode))
            #expect(try await client.send("GET", .key("unicode")).string == unicode)
        }
    }

    @Test func scriptSurvivesScriptFlush() async throws {
        try await RedisServer.with { server async throws in
            let client = server.nodeClient()
            defer { client.shutdown() }
            let script = RedisScript(name: "incr", source: "return redis.call('INCRBY', KEYS[1], ARGV[1])")
            #expect(try await client.run(script, keys: ["n"], args: [2]) == .integer(2))
            try await client.send("SCRIPT", "FLUSH")
            #expect(try await client.send("SCRIPT", "EXISTS", RedisArgument(try await client.load(script))) == .array([.integer(1)]))
            try await client.send("SCRIPT", "FLUSH")
            // Redis no longer knows the SHA1: the client gets NOSCRIPT, reloads and retries once.
            #expect(try await client.run(script, keys: ["n"], args: [3]) == .integer(5))
        }
    }

    @Test func callsFailFastWhileRedisIsDownAndRecoverWhenItIsBack() async throws {
        try await RedisServer.with { server async throws in
            let client = server.client(commandTimeout: .milliseconds(500))
            defer { client.shutdown() }
            try await client.send("SET", .key("k"), "before")
            server.stop()

            let clock = ContinuousClock()
            for _ in 0..<20 {
                let start = clock.now
                let error = await #expect(throws: RedisError.self) { try await client.send("GET", .key("k")) }
                #expect(error?.isUnavailable == true)
                #expect(clock.now - start < .milliseconds(500))
            }

            try await server.restart()
            var recovered = false
            let deadline = clock.now + .seconds(3)
            while !recovered && clock.now < deadline {
                recovered = (try? await client.send("PING")) == .status("PONG")
                if !recovered { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(recovered)
            // Every pooled connection works again, not only the first one to reconnect.
            for _ in 0..<8 { #expect(try await client.send("SET", .key("k"), "after") == .status("OK")) }
        }
    }

    @Test func aHungRedisFailsCallsWithinTheCommandTimeout() async throws {
        try await RedisServer.with { server async throws in
            let client = server.client(commandTimeout: .milliseconds(300), poolSize: 1)
            defer { client.shutdown() }
            try await client.send("PING")
            // CLIENT PAUSE stops Redis answering, like a stuck server: connections stay open and
            // no reply comes (it pauses every client, the one that sent it too, from now on).
            let admin = server.client(poolSize: 1)
            defer { admin.shutdown() }
            try await admin.send("CLIENT", "PAUSE", 1500, "ALL")

            let clock = ContinuousClock()
            let start = clock.now
            let error = await #expect(throws: RedisError.self) { try await client.send("PING") }
            let waited = clock.now - start
            #expect(error?.code == .timeout)
            #expect(waited >= .milliseconds(250))
            #expect(waited < .seconds(1))
            try await Task.sleep(for: .milliseconds(1300))
            // The timed-out connection was closed; the next call opens a fresh one.
            #expect(try await client.send("PING") == .status("PONG"))
        }
    }

    @Test func passwordAndDatabaseFromTheURLAreUsed() async throws {
        try await RedisServer.with { server async throws in
            let admin = server.client()
            defer { admin.shutdown() }
            try await admin.send("SELECT", 0)
            try await admin.send("CONFIG", "SET", "requirepass", "s3cr:t")

            let authed = RedisNodeClient(configuration: try RedisConfiguration(url: "redis://:s3cr%3At@127.0.0.1:\(server.port)/3"))
            defer { authed.shutdown() }
            try await authed.send("SET", .key("where"), "db3")
            #expect(try await authed.send("EVAL", "return redis.call('GET', 'where')", 0).string == "db3")

            let anonymous = RedisNodeClient(configuration: try RedisConfiguration(url: "redis://127.0.0.1:\(server.port)/0"))
            defer { anonymous.shutdown() }
            let error = await #expect(throws: RedisError.self) { try await anonymous.send("GET", .key("where")) }
            #expect(error?.message.contains("NOAUTH") == true)
        }
    }
}
