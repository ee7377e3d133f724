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
    /// The store's `termsVersion`: Redis takes terms only of a later version than it holds.
    public var version: Int64

    public init(couponID: Int64, stock: Int64, validFrom: Int64, validUntil: Int64, version: Int64 = 1) {
        self.version = version
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
                  validUntil: coupon.validUntil.milliseconds, version: coupon.termsVersion)
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
    /// reconcile job is what corrects it. One script, so the gate never sees terms without stock;
    /// terms older than Redis's (a lower version) are not taken.
    public func publish(_ terms: CouponTerms, alreadyIssued issued: Int64 = 0) async throws {
        let keys = CouponKeys(couponID: terms.couponID)
        try await redis.run(LuaScripts.couponPublish, keys: [keys.meta, keys.remaining], args: [
            RedisArgument(terms.validFrom), RedisArgument(terms.validUntil),
            RedisArgument(terms.stock), RedisArgument(max(0, terms.stock - issued)), RedisArgument(terms.version),
        ])
    }

    /// What Redis made of a coupon's changed terms.
    public enum TermsChange: Sendable, Hashable {
        /// Redis holds these terms (just taken, or taken before: a repeat) or a later version:
        /// the stock still to issue and the users issued, as they are now.
        case holds(remaining: Int64, issued: Int64)
        /// Redis does not know the coupon (lost data): nothing changed.
        case unknownCoupon
    }

    /// Gives Redis a coupon's changed terms (as the store decided them) in one script on its slot,
    /// atomically with issuing: remaining becomes `stock - issued` as the issued set is at that
    /// moment. Terms of a version Redis holds already or has passed change nothing, so a change
    /// sent again (its reply was lost) or late (after a later one) is harmless. Throws
    /// `untrustedData` while Redis's data is not trusted (its issued set may be short).
    public func changeTerms(_ terms: CouponTerms) async throws -> TermsChange {
        let reply = try await redis.run(LuaScripts.couponChangeTerms, keys: CouponKeys(couponID: terms.couponID).all, args: [
            RedisArgument(terms.validFrom), RedisArgument(terms.validUntil), RedisArgument(terms.stock), RedisArgument(terms.version),
        ], requiringTrustedData: true)
        guard let values = reply.array?.compactMap(\.int), values.count == 3 else {
            throw RedisError(.protocolError, "coupon-change-terms returned \(reply)")
        }
        return values[0] == 1 ? .unknownCoupon : .holds(remaining: values[1], issued: values[2])
    }

    /// Takes issuances the store refused or never recorded out of Redis's issued hash (each only
    /// with exactly its issue time), without giving stock back: `coupon-take-back.lua`.
    @discardableResult
    public func takeBack(couponID: Int64, _ issuances: [Issuance]) async throws -> Int64 {
        guard !issuances.isEmpty else { return 0 }
        var args: [RedisArgument] = []
        args.reserveCapacity(issuances.count * 2)
        for issuance in issuances {
            args.append(RedisArgument(issuance.userID))
            args.append(RedisArgument(issuance.issuedAt))
        }
        return try await redis.run(LuaScripts.couponTakeBack, keys: [CouponKeys(couponID: couponID).issued], args: args).int ?? 0
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
