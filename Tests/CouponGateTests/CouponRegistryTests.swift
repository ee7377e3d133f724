import Testing
import TestSupport
@testable import CouponGate
import RedisClient
import CommerceStore

@Suite struct CouponRegistryTests {
    @Test func keysOfOneCouponShareAHashTag() {
        let keys = CouponKeys(couponID: 7)
        #expect([keys.meta, keys.remaining, keys.issued] == ["coupon:{7}:meta", "coupon:{7}:remaining", "coupon:{7}:issued"])
    }

    @Test func publishWritesTermsAndNeverOverwritesALiveCount() async throws {
        try await RedisServer.with { server async throws in
            let redis = server.client()
            defer { redis.shutdown() }
            let registry = CouponRegistry(redis: redis)
            let keys = CouponKeys(couponID: 7)
            try await registry.publish(CouponTerms(couponID: 7, stock: 100, validFrom: 1_000, validUntil: 2_000), alreadyIssued: 3)
            #expect(try await redis.send("GET", .key(keys.remaining)).int == 97)
            #expect(try await redis.send("HGET", .key(keys.meta), "valid_until").int == 2_000)

            try await redis.send("DECR", .key(keys.remaining))
            try await registry.publish(CouponTerms(couponID: 7, stock: 100, validFrom: 1_000, validUntil: 3_000))
            #expect(try await redis.send("GET", .key(keys.remaining)).int == 96)
            #expect(try await redis.send("HGET", .key(keys.meta), "valid_until").int == 3_000)
        }
    }

    /// A change that reaches Redis late (after a later one) or twice (its reply was lost and it
    /// was sent again) changes nothing: Redis ends with the store's latest version.
    @Test func termsApplyInVersionOrderHoweverLateOrOftenTheyArrive() async throws {
        try await RedisServer.with { server async throws in
            let redis = server.client()
            defer { redis.shutdown() }
            let registry = CouponRegistry(redis: redis)
            let keys = CouponKeys(couponID: 7)
            try await registry.publish(CouponTerms(couponID: 7, stock: 2, validFrom: 0, validUntil: 9_000))
            try await redis.send("HSET", .key(keys.issued), "1", "10", "2", "10")
            try await redis.send("SET", .key(keys.remaining), "0")
            let cut = CouponTerms(couponID: 7, stock: 3, validFrom: 0, validUntil: 9_000, version: 3)
            #expect(try await registry.changeTerms(cut) == .holds(remaining: 1, issued: 2))
            let lateRestock = CouponTerms(couponID: 7, stock: 10, validFrom: 0, validUntil: 9_000, version: 2)
            #expect(try await registry.changeTerms(lateRestock) == .holds(remaining: 1, issued: 2), "superseded: nothing changed")
            #expect(try await registry.changeTerms(cut) == .holds(remaining: 1, issued: 2), "a repeat: nothing changed")
            #expect(try await redis.send("HGET", .key(keys.meta), "stock").int == 3)
            // Nor does a publish of an older version (a create retried late).
            try await registry.publish(CouponTerms(couponID: 7, stock: 50, validFrom: 0, validUntil: 9_000, version: 1))
            #expect(try await redis.send("HGET", .key(keys.meta), "stock").int == 3)
            #expect(try await registry.changeTerms(CouponTerms(couponID: 8, stock: 1, validFrom: 0, validUntil: 1)) == .unknownCoupon)
        }
    }

    /// Entries the store refused are taken out of Redis by user and issue time, without stock.
    @Test func takeBackRemovesOnlyTheEntriesWithThoseTimes() async throws {
        try await RedisServer.with { server async throws in
            let redis = server.client()
            defer { redis.shutdown() }
            let registry = CouponRegistry(redis: redis)
            let keys = CouponKeys(couponID: 7)
            try await redis.send("HSET", .key(keys.issued), "1", "10", "2", "20", "3", "30")
            try await redis.send("SET", .key(keys.remaining), "0")
            let taken = try await registry.takeBack(couponID: 7, [
                Issuance(userID: 1, issuedAt: 10), Issuance(userID: 2, issuedAt: 21), Issuance(userID: 4, issuedAt: 40),
            ])
            #expect(taken == 1)
            #expect(try await redis.send("HKEYS", .key(keys.issued)).array?.compactMap(\.int).sorted() == [2, 3])
            #expect(try await redis.send("GET", .key(keys.remaining)).int == 0, "no stock given back")
        }
    }
}
