import Testing
import TestSupport
@testable import CouponGate
import RedisClient

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
}
