import CommerceStore
import LuaScripts
import RedisClient

/// What the gate needs to know of a coupon to decide an issuance on its own.
public struct CouponTerms: Sendable, Hashable {
    public var couponID: Int64
    public var stock: Int64
    /// Issue window, milliseconds since the Unix epoch.
    public var validFrom: Int64
    public var validUntil: Int64

    public init(couponID: Int64, stock: Int64, validFrom: Int64, validUntil: Int64) {
        self.couponID = couponID
        self.stock = stock
        self.validFrom = validFrom
        self.validUntil = validUntil
    }
}

extension CouponTerms {
    /// The terms of a stored coupon.
    public init(_ coupon: Coupon) {
        self.init(couponID: coupon.couponID, stock: coupon.stock, validFrom: coupon.validFrom.milliseconds,
                  validUntil: coupon.validUntil.milliseconds)
    }
}

/// Publishes coupons to Redis, where the gate decides issuances.
public struct CouponRegistry: Sendable {
    private let redis: any RedisClient

    public init(redis: any RedisClient) {
        self.redis = redis
    }

    /// Writes the coupon's terms and, unless Redis already counts this coupon, its remaining
    /// stock (`stock - alreadyIssued`). A live count is never overwritten: after a fault the
    /// reconcile job is what corrects it. One script, so the gate never sees terms without stock.
    public func publish(_ terms: CouponTerms, alreadyIssued issued: Int64 = 0) async throws {
        let keys = CouponKeys(couponID: terms.couponID)
        try await redis.run(LuaScripts.couponPublish, keys: [keys.meta, keys.remaining], args: [
            RedisArgument(terms.validFrom), RedisArgument(terms.validUntil),
            RedisArgument(terms.stock), RedisArgument(max(0, terms.stock - issued)),
        ])
    }

    /// What Redis made of a change of a coupon's terms.
    public enum TermsChange: Sendable, Hashable {
        /// Changed: the stock still to issue and the users issued, as they are now.
        case changed(remaining: Int64, issued: Int64)
        /// Refused, nothing changed: more users hold the coupon than the new stock.
        case belowIssued(issued: Int64)
        /// Redis does not know the coupon (lost data): nothing changed.
        case unknownCoupon
    }

    /// Changes a published coupon's terms in one script on its slot, atomically with issuing:
    /// remaining becomes `stock - issued` as the issued set is at that moment, and a stock below
    /// the users already issued is refused. Throws `untrustedData` while Redis's data is not
    /// trusted (its issued set may be short).
    public func changeTerms(_ terms: CouponTerms) async throws -> TermsChange {
        let reply = try await redis.run(LuaScripts.couponChangeTerms, keys: CouponKeys(couponID: terms.couponID).all, args: [
            RedisArgument(terms.validFrom), RedisArgument(terms.validUntil), RedisArgument(terms.stock),
        ], requiringTrustedData: true)
        guard let values = reply.array?.compactMap(\.int), values.count == 3 else {
            throw RedisError(.protocolError, "coupon-change-terms returned \(reply)")
        }
        switch values[0] {
        case 0: return .changed(remaining: values[1], issued: values[2])
        case 1: return .unknownCoupon
        default: return .belowIssued(issued: values[2])
        }
    }

    /// Redis's live view of a coupon: stock still to issue and users issued so far; nil when
    /// Redis does not know the coupon (no remaining count). The two are read concurrently, not
    /// atomically: under issuing they may be a few apart.
    public func liveCounts(couponID: Int64) async throws -> (remaining: Int64, issued: Int64)? {
        let keys = CouponKeys(couponID: couponID)
        async let remaining = redis.send("GET", .key(keys.remaining))
        async let issued = issuedCount(couponID: couponID)
        guard let remainingCount = try await remaining.int else { return nil }
        return (remainingCount, try await issued)
    }

    /// How many users Redis holds as issued the coupon (0 when it knows none).
    public func issuedCount(couponID: Int64) async throws -> Int64 {
        try await redis.send("HLEN", .key(CouponKeys(couponID: couponID).issued)).int ?? 0
    }

    /// The users Redis holds as issued the coupon, when there are at most `limit` of them (one
    /// `HLEN`, then one `HKEYS`); nil when there are more. Throws `untrustedData` when Redis's
    /// data is not trusted.
    public func holders(couponID: Int64, atMost limit: Int) async throws -> Set<Int64>? {
        guard try await issuedCount(couponID: couponID) <= limit else { return nil }
        let reply = try await redis.send(RedisCommand("HKEYS", .key(CouponKeys(couponID: couponID).issued)),
                                         requiringTrustedData: true)
        return Set(reply.array?.compactMap(\.int) ?? [])
    }
}
