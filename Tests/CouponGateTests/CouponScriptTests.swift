import Foundation
import CommerceStore
import LuaScripts
import RedisClient
import Testing
import TestSupport
@testable import CouponGate

/// The two Lua scripts on their own, against a real Redis: the order of the checks and the
/// exactness of a give-back.
@Suite struct CouponScriptTests {
    static let keys = CouponKeys(couponID: 7)

    /// One batch: `{remaining, status per request}`.
    static func issue(_ redis: any RedisClient, _ requests: [(user: Int64, at: Int64)]) async throws -> [Int64] {
        let reply = try await redis.run(LuaScripts.couponIssue, keys: [keys.meta, keys.remaining, keys.issued],
                                        args: requests.flatMap { [RedisArgument($0.user), RedisArgument($0.at)] })
        return reply.array?.compactMap(\.int) ?? []
    }

    /// A batch of one: `[status, remaining]`.
    static func issue(_ redis: any RedisClient, user: Int64, at now: Int64) async throws -> [Int64] {
        let reply = try await issue(redis, [(user, now)])
        return reply.count == 2 ? [reply[1], reply[0]] : reply
    }

    static func giveBack(_ redis: any RedisClient, user: Int64, issuedAt: Int64) async throws -> Int64? {
        try await redis.run(LuaScripts.couponGiveBack, keys: [keys.remaining, keys.issued],
                            args: [RedisArgument(user), RedisArgument(issuedAt)]).int
    }

    @Test func checksWindowThenDuplicateThenStock() async throws {
        try await RedisServer.with { server async throws in
            let redis = server.client()
            defer { redis.shutdown() }
            #expect(try await Self.issue(redis, user: 1, at: 1_500) == [1, 0], "unknown coupon")
            try await CouponRegistry(redis: redis).publish(CouponTerms(couponID: 7, stock: 2, validFrom: 1_000, validUntil: 2_000))
            #expect(try await Self.issue(redis, user: 1, at: 999) == [2, 2])
            #expect(try await Self.issue(redis, user: 1, at: 1_000) == [0, 1])
            #expect(try await Self.issue(redis, user: 1, at: 1_001) == [3, 1], "a duplicate uses no stock")
            #expect(try await Self.issue(redis, user: 2, at: 2_000) == [0, 0])
            #expect(try await Self.issue(redis, user: 2, at: 2_000) == [3, 0], "the holder hears 'already issued', not 'sold out'")
            #expect(try await Self.issue(redis, user: 3, at: 2_000) == [4, 0])
            #expect(try await Self.issue(redis, user: 3, at: 2_001) == [2, 0], "the window is checked first")
            #expect(try await redis.send("GET", .key(Self.keys.remaining)).int == 0, "never below zero")
            #expect(try await redis.send("HGET", .key(Self.keys.issued), "1").int == 1_000, "the issue time is kept")

            try await redis.send("DEL", .key(Self.keys.remaining))
            #expect(try await Self.issue(redis, user: 4, at: 1_500) == [4, 0], "a lost count reads as sold out, never as stock")
        }
    }

    @Test func aBatchIsServedInArrivalOrder() async throws {
        try await RedisServer.with { server async throws in
            let redis = server.client()
            defer { redis.shutdown() }
            try await CouponRegistry(redis: redis).publish(CouponTerms(couponID: 7, stock: 3, validFrom: 1_000, validUntil: 2_000))
            let reply = try await Self.issue(redis, [(1, 1_500), (2, 999), (1, 1_501), (3, 1_502), (4, 1_503), (5, 1_504), (4, 1_505)])
            #expect(reply == [0, 0, 2, 3, 0, 0, 4, 3], "remaining 0; early; duplicate in the batch; last two; sold out; holder")
            #expect(try await redis.send("HGET", .key(Self.keys.issued), "4").int == 1_503)
            #expect(try await redis.send("HLEN", .key(Self.keys.issued)).int == 3)
        }
    }

    @Test func theLimitedIssueTakesTokensThenIssuesOnlyWhatPassed() async throws {
        try await RedisServer.with { server async throws in
            let redis = server.client()
            defer { redis.shutdown() }
            try await CouponRegistry(redis: redis).publish(CouponTerms(couponID: 7, stock: 2, validFrom: 0, validUntil: Int64(4e12)))
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            // Users 1, 2, 1 again, 3: a bucket of 2 per user, 3 per address (all share one address).
            let limiter = IssueRateLimiter(redis: redis, limits: IssueRateLimits(
                perUser: TokenBucket(perSecond: 0.01, burst: 2), perAddress: TokenBucket(perSecond: 0.01, burst: 3)))
            let requests = [(1, "a"), (2, "a"), (1, "a"), (3, "a")].map { (userID: Int64($0.0), address: $0.1) }
            let limit = try #require(limiter.oneCallArguments(requests))
            let script = CouponIssueScript(redis: redis)
            let reply = try await script.run(couponID: 7, requests.map { Issuance(userID: $0.userID, issuedAt: now) }, limit: limit)
            #expect(reply.waits.map { $0 == nil } == [true, true, true, false], "the fourth is over its address's burst")
            #expect(reply.decided.statuses == [.issued, .issued, .alreadyIssued], "only the three that passed were decided")
            #expect(reply.decided.remaining == 0)
            #expect(try await redis.send("HLEN", .key(Self.keys.issued)).int == 2)
            #expect(!LuaScripts.couponIssueLimited.keysShareSlot && !LuaScripts.couponIssueLimited.source.contains("--! include"))
        }
    }

    @Test func giveBackUndoesExactlyTheIssuanceItNames() async throws {
        try await RedisServer.with { server async throws in
            let redis = server.client()
            defer { redis.shutdown() }
            try await CouponRegistry(redis: redis).publish(CouponTerms(couponID: 7, stock: 5, validFrom: 0, validUntil: 10_000))
            _ = try await Self.issue(redis, user: 1, at: 100)
            #expect(try await Self.giveBack(redis, user: 1, issuedAt: 99) == 0, "another issuance of the same user")
            #expect(try await Self.giveBack(redis, user: 2, issuedAt: 100) == 0, "a user without the coupon")
            #expect(try await redis.send("GET", .key(Self.keys.remaining)).int == 4)
            #expect(try await Self.giveBack(redis, user: 1, issuedAt: 100) == 1)
            #expect(try await Self.giveBack(redis, user: 1, issuedAt: 100) == 0, "a retried give-back changes nothing")
            #expect(try await redis.send("GET", .key(Self.keys.remaining)).int == 5)
            #expect(try await redis.send("HEXISTS", .key(Self.keys.issued), "1").int == 0)
        }
    }
}
