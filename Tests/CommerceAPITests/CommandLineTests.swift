import CommerceStore
@testable import CommerceStoreSQLite
import CouponGate
import Foundation
import Testing
import TestSupport
@testable import CommerceAPI
@testable import CommerceCore
import BearerTokens

/// `commerce token` and how `commerce serve` treats its JWT secret (the built binary).
@Suite struct CommandLineTests {
    static func run(_ arguments: [String]) async throws -> (status: Int32?, output: String) {
        try await withTemporaryDirectory { directory in
            let process = try ChildProcess.spawn([try builtExecutable("commerce")] + arguments,
                                                 logFile: directory.appendingPathComponent("out.log"))
            let status = await process.waitForExit(timeout: .seconds(20))
            if status == nil { await process.stop() }
            return (status, process.output)
        }
    }

    @Test func tokenPrintsATokenTheServerAccepts() async throws {
        let (status, output) = try await Self.run(["token", "--user", "42", "--admin", "--ttl", "60", "--jwt-secret", TestTokens.secret])
        #expect(status == 0)
        let token = output.trimmingCharacters(in: .whitespacesAndNewlines)
        let now = Int64(Date().timeIntervalSince1970)
        let tokens = try await TestTokens.verifier()
        #expect(try tokens.verify(token[...], now: now) == Identity(userID: 42, isAdmin: true))
        #expect(throws: TokenRejection.self) { try tokens.verify(token[...], now: now + 61) }

        let user = try await Self.run(["token", "--user", "7", "--jwt-secret", TestTokens.secret])
        let userToken = user.output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try tokens.verify(userToken[...], now: now) == Identity(userID: 7, isAdmin: false))
    }

    @Test func aDatabaseURLThatCannotBeUsedIsSaidClearly() async throws {
        let redis = "redis://127.0.0.1:\(try freePort())/0"
        let noUser = try await Self.run(["seed", "--db", "postgres://127.0.0.1:5432/shop", "--redis", redis])
        #expect(noUser.status != 0 && noUser.status != nil)
        #expect(noUser.output.contains("names no user"), "\(noUser.output)")
        let noDatabase = try await Self.run(["reconcile", "--db", "postgres://shop@127.0.0.1:5432", "--redis", redis])
        #expect(noDatabase.status != 0 && noDatabase.status != nil)
        #expect(noDatabase.output.contains("names no database"), "\(noDatabase.output)")
        // Nobody listens there: refused at start, saying what could not be reached.
        let port = try freePort()
        let unreachable = try await Self.run(["serve", "--port", "\(try freePort())", "--jwt-secret", TestTokens.secret,
                                              "--db", "postgres://shop@127.0.0.1:\(port)/shop", "--redis", redis])
        #expect(unreachable.status != 0 && unreachable.status != nil)
        #expect(unreachable.output.contains("PostgreSQL"), "\(unreachable.output)")
        #expect(!unreachable.output.contains("Fatal error"))
    }

    /// A single-server URL naming a cluster node would loop on MOVED, never ready: refused at
    /// start, saying which URL to use.
    @Test func serveRefusesAClusterNodeGivenAsOneServer() async throws {
        try await RedisCluster.with { cluster in
            let node = cluster.primaries[0].port
            try await withTemporaryDirectory { directory in
                let refused = try await Self.run(["serve", "--port", "\(try freePort())", "--jwt-secret", TestTokens.secret,
                                                  "--db", directory.appendingPathComponent("shop.sqlite").path,
                                                  "--redis", "redis://127.0.0.1:\(node)"])
                #expect(refused.status != 0 && refused.status != nil)
                #expect(refused.output.contains("is a Redis Cluster node: use redis+cluster://127.0.0.1:\(node)"), "\(refused.output)")
            }
        }
    }

    @Test func tokenRefusesBadInput() async throws {
        for arguments in [["token", "--user", "0", "--jwt-secret", TestTokens.secret],
                          ["token", "--user", "1", "--ttl", "0", "--jwt-secret", TestTokens.secret],
                          ["token", "--user", "1", "--jwt-secret", "short"],
                          ["token", "--user", "1", "--jwt-secret", ""]] {
            let (status, output) = try await Self.run(arguments)
            #expect(status != 0 && status != nil, "\(arguments)")
            #expect(!output.contains("eyJ"), "\(arguments) printed a token")
        }
    }

    @Test func serveRefusesToStartWithoutASecretOrWithOptionsItCannotKeep() async throws {
        let missing = try await Self.run(["serve", "--port", "\(try freePort())", "--jwt-secret", "", "--db", "/nonexistent/x.sqlite"])
        #expect(missing.status != 0 && missing.status != nil)
        #expect(missing.output.contains("no JWT secret"))
        #expect(missing.output.contains("--insecure-dev"))

        let short = try await Self.run(["serve", "--port", "\(try freePort())", "--jwt-secret", "short"])
        #expect(short.status != 0 && short.status != nil)
        #expect(short.output.contains("at least 32 bytes"))

        let both = try await Self.run(["serve", "--port", "\(try freePort())", "--jwt-secret", TestTokens.secret, "--insecure-dev"])
        #expect(both.status != 0 && both.status != nil)
        #expect(both.output.contains("exclude each other"))

        // A key set that cannot be used stops the start, saying why.
        let noKeySet = try await Self.run(["serve", "--port", "\(try freePort())", "--jwks", "/nonexistent/keys.json"])
        #expect(noKeySet.status != 0 && noKeySet.status != nil)
        #expect(noKeySet.output.contains("the key set /nonexistent/keys.json cannot be read"))
        let notAKeySet = try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("keys.json").path
            try Data(#"{"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#.utf8)
                .write(to: URL(fileURLWithPath: path))
            return try await Self.run(["serve", "--port", "\(try freePort())", "--jwks", path])
        }
        #expect(notAKeySet.status != 0 && notAKeySet.status != nil)
        #expect(notAKeySet.output.contains("has no RSA or P-256 key with a kid"))

        let limits = try await Self.run(["serve", "--port", "\(try freePort())", "--jwt-secret", TestTokens.secret, "--issue-limit-user", "5"])
        #expect(limits.status != 0 && limits.status != nil)
        #expect(limits.output.contains("RATE:BURST"))

        // A cap the open-file limit cannot hold is refused with the numbers, not found out under a flood.
        let tooMany = try await Self.run(["serve", "--port", "\(try freePort())", "--jwt-secret", TestTokens.secret,
                                          "--max-connections", "10000000"])
        #expect(tooMany.status != 0 && tooMany.status != nil)
        #expect(tooMany.output.contains("does not fit the open-file limit"))
        let timeout = try await Self.run(["serve", "--port", "\(try freePort())", "--jwt-secret", TestTokens.secret,
                                          "--header-timeout", "0s"])
        #expect(timeout.status != 0 && timeout.status != nil)
        #expect(timeout.output.contains("--header-timeout"))
        let proxy = try await Self.run(["serve", "--port", "\(try freePort())", "--jwt-secret", TestTokens.secret,
                                        "--trusted-proxy", "10.0.0.0/40"])
        #expect(proxy.status != 0 && proxy.status != nil)
        #expect(proxy.output.contains("--trusted-proxy 10.0.0.0/40 is not a list of networks"))
    }

    @Test func insecureDevServesWithoutTokens() async throws {
        try await withTestRedis { redis async throws in
            try await withTemporaryDirectory { directory async throws in
                let server = try await CommerceServer.start(
                    databasePath: directory.appendingPathComponent("c.sqlite").path, redisURL: redis.url,
                    logFile: directory.appendingPathComponent("serve.log"), secret: nil, arguments: ["--insecure-dev"])
                defer { Task { await server.process.stop() } }
                let reply = try await server.once { try await $0.call(.get, "/admin/coupons/1", token: nil) }
                #expect(reply.status == .notFound)  // reached the route: no 401, no 403
                #expect(reply.code == "COUPON_NOT_FOUND")
                await server.process.stop()
                #expect(server.process.output.contains("--insecure-dev: no tokens are checked"))
            }
        }
    }

    @Test func seedDemoAddsTheDemoDataOnceThroughTheStoreAndPublishesItsCoupons() async throws {
        try await withTestRedis { redis async throws in
            try await withTemporaryDirectory { directory async throws in
                let path = directory.appendingPathComponent("demo.sqlite").path
                let first = try await Self.run(["seed", "--demo", "--db", path, "--redis", redis.url])
                #expect(first.status == 0)
                #expect(first.output.contains("demo data added: 8 items, 2 coupons"))
                let again = try await Self.run(["seed", "--demo", "--db", path, "--redis", redis.url])
                #expect(again.status == 0)
                #expect(again.output.contains("nothing added; 2 coupons published"))

                let store = try SQLiteStore(path: path)
                #expect(try await store.items.page(afterID: 0, limit: 100).count == 8)
                #expect(try await store.orders.orders(userID: 1, limit: 100).count == 2)
                // Users 1-3 charged 500,000 each, then paid for their orders out of it.
                #expect(try await store.points.history(userID: 1, limit: 100).filter { $0.kind == .charge }.map(\.amount) == [500_000])
                let client = redis.client()
                defer { client.shutdown() }
                let flash = try #require(try await store.coupons.coupon(1))
                #expect(try await CouponRegistry(redis: client).liveCounts(couponID: 1)?.remaining == flash.stock)
            }
        }
    }
}
