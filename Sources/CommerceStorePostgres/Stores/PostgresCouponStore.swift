import CommerceStore
import PostgresNIO

struct PostgresCouponStore: CouponStore {
    let store: PostgresStore

    func create(_ coupon: NewCoupon, at now: Int64) async throws -> Coupon {
        try await store.connection { connection in
            let id = try await connection.value(Int64.self, """
                INSERT INTO coupons (name, discount_type, discount_value, stock, valid_from, valid_until, created_at)
                VALUES (\(coupon.name), \(coupon.discountType.rawValue), \(coupon.discountValue), \(coupon.stock),
                        \(coupon.validFrom.milliseconds), \(coupon.validUntil.milliseconds), \(now))
                RETURNING id
                """)!
            return Coupon(couponID: id, name: coupon.name, discountType: coupon.discountType, discountValue: coupon.discountValue,
                          stock: coupon.stock, validFrom: coupon.validFrom, validUntil: coupon.validUntil)
        }
    }

    func delete(couponID: Int64) async throws {
        try await store.connection { connection in
            try await connection.run("""
                DELETE FROM coupons WHERE id = \(couponID) AND NOT EXISTS (SELECT 1 FROM user_coupons WHERE coupon_id = \(couponID))
                """)
        }
    }

    func coupon(_ couponID: Int64) async throws -> Coupon? {
        try await store.connection { connection in
            try await connection.rows("""
                SELECT id, name, discount_type, discount_value, stock, valid_from, valid_until FROM coupons WHERE id = \(couponID)
                """).first.map(Self.coupon)
        }
    }

    func page(afterID: Int64, limit: Int) async throws -> [Coupon] {
        try await store.connection { connection in
            try await connection.rows("""
                SELECT id, name, discount_type, discount_value, stock, valid_from, valid_until FROM coupons
                WHERE id > \(afterID) ORDER BY id LIMIT \(Int64(limit))
                """).map(Self.coupon)
        }
    }

    /// One statement for the whole batch (no savepoint per row): the rows go in with
    /// `ON CONFLICT DO NOTHING`, and each issuance's result is read off what was inserted and
    /// what stood there before. An issuance that another transaction recorded while this one
    /// ran (neither inserted nor seen) is looked up again afterwards.
    func recordIssues(couponID: Int64, _ issuances: [Issuance]) async throws -> [Result<Void, any Error>] {
        guard !issuances.isEmpty else { return [] }
        return try await store.connection { connection in
            let users = issuances.map(\.userID), times = issuances.map(\.issuedAt)
            guard try await connection.value(Int64.self, "SELECT id FROM coupons WHERE id = \(couponID)") != nil else {
                return issuances.map { _ in .failure(CommerceError.couponNotFound(couponID)) }
            }
            var outcome: [Int64: (inserted: Bool, existing: Int64?)] = [:]
            for row in try await connection.rows("""
                WITH input AS (
                    SELECT * FROM unnest(\(users), \(times)) AS t(user_id, issued_at)
                ), inserted AS (
                    INSERT INTO user_coupons (user_id, coupon_id, issued_at)
                    SELECT user_id, \(couponID), issued_at FROM input ORDER BY user_id
                    ON CONFLICT (user_id, coupon_id) DO NOTHING
                    RETURNING user_id
                )
                SELECT i.user_id, inserted.user_id IS NOT NULL, uc.issued_at
                FROM input i
                LEFT JOIN inserted ON inserted.user_id = i.user_id
                LEFT JOIN user_coupons uc ON uc.user_id = i.user_id AND uc.coupon_id = \(couponID)
                """) {
                let (user, inserted, existing) = try row.decode((Int64, Bool, Int64?).self)
                outcome[user] = (inserted, existing)
            }
            let unseen = issuances.filter { outcome[$0.userID].map { !$0.inserted && $0.existing == nil } ?? true }.map(\.userID)
            if !unseen.isEmpty {
                for row in try await connection.rows("""
                    SELECT user_id, issued_at FROM user_coupons WHERE coupon_id = \(couponID) AND user_id = ANY(\(unseen))
                    """) {
                    let (user, issuedAt) = try row.decode((Int64, Int64).self)
                    outcome[user] = (false, issuedAt)
                }
            }
            return issuances.map { issuance in
                switch outcome[issuance.userID] {
                case (true, _)?: return .success(())
                case (false, let existing?)? where existing == issuance.issuedAt:
                    // The same issuance, already recorded by the reconcile job from Redis: done.
                    return .success(())
                case (false, _?)?: return .failure(CommerceError.alreadyIssued(userID: issuance.userID, couponID: couponID))
                default: return .failure(StoreError(.unavailable, "issuance of coupon \(couponID) to user \(issuance.userID) was not recorded"))
                }
            }
        }
    }

    func held(userID: Int64) async throws -> [HeldCoupon] {
        try await store.connection { connection in
            try await connection.rows("""
                SELECT c.id, c.name, c.discount_type, c.discount_value, c.stock, c.valid_from, c.valid_until,
                       uc.issued_at, uc.used_at, uc.order_id
                FROM user_coupons uc JOIN coupons c ON c.id = uc.coupon_id
                WHERE uc.user_id = \(userID)
                ORDER BY uc.issued_at DESC, uc.id DESC
                """).map { row in
                let (_, _, _, _, _, _, _, issuedAt, usedAt, orderID) =
                    try row.decode((Int64, String, String, Int64, Int64, Int64, Int64, Int64, Int64?, Int64?).self)
                return HeldCoupon(coupon: try Self.coupon(row), issuedAt: Timestamp(milliseconds: issuedAt),
                                  usedAt: usedAt.map(Timestamp.init(milliseconds:)), orderID: orderID)
            }
        }
    }

    func issuedCount(couponID: Int64) async throws -> Int64 {
        try await store.connection { try await $0.value(Int64.self, "SELECT count(*) FROM user_coupons WHERE coupon_id = \(couponID)") ?? 0 }
    }

    func issuances(couponID: Int64, afterUser: Int64, limit: Int) async throws -> [Issuance] {
        try await store.connection { connection in
            try await connection.rows("""
                SELECT user_id, issued_at FROM user_coupons WHERE coupon_id = \(couponID) AND user_id > \(afterUser)
                ORDER BY user_id LIMIT \(Int64(limit))
                """).map { row in
                let (user, issuedAt) = try row.decode((Int64, Int64).self)
                return Issuance(userID: user, issuedAt: issuedAt)
            }
        }
    }

    /// Each batch handed over is one statement: the missing rows inserted (`ON CONFLICT DO
    /// NOTHING` keeps every existing row and skips repeats), or with `dryRun` only counted. The
    /// unique index does the matching; nothing is staged, so memory stays at one batch.
    func recordMissingIssuances(
        couponID: Int64, dryRun: Bool, next: @Sendable () async throws -> [Issuance]?,
        checked: @Sendable (Int) async throws -> Void
    ) async throws -> Int64 {
        var added: Int64 = 0
        var compared = 0
        // A dry run's repeats across batches must count once: the users counted so far.
        var counted = Set<Int64>()
        while let batch = try await next() {
            let users = batch.map(\.userID), times = batch.map(\.issuedAt)
            if dryRun {
                let missing = try await store.connection { connection in
                    try await connection.values(Int64.self, """
                        SELECT DISTINCT t.user_id FROM unnest(\(users)) AS t(user_id)
                        WHERE NOT EXISTS (SELECT 1 FROM user_coupons u WHERE u.user_id = t.user_id AND u.coupon_id = \(couponID))
                        """)
                }
                for user in missing where counted.insert(user).inserted { added += 1 }
            } else {
                added += try await store.connection { connection in
                    try await connection.value(Int64.self, """
                        WITH inserted AS (
                            INSERT INTO user_coupons (user_id, coupon_id, issued_at)
                            SELECT user_id, \(couponID), issued_at FROM unnest(\(users), \(times)) AS t(user_id, issued_at)
                            ORDER BY user_id
                            ON CONFLICT (user_id, coupon_id) DO NOTHING RETURNING 1
                        )
                        SELECT count(*) FROM inserted
                        """) ?? 0
                }
            }
            compared += batch.count
            try await checked(compared)
        }
        return added
    }

    /// A coupon from its seven columns, first in the row.
    private static func coupon(_ row: PostgresRow) throws -> Coupon {
        let (id, name, type, value, stock, validFrom, validUntil) = try row.decode((Int64, String, String, Int64, Int64, Int64, Int64).self)
        guard let discountType = DiscountType(rawValue: type) else {
            throw StoreError(.unavailable, "coupon \(id) has discount type \(type)")
        }
        return Coupon(couponID: id, name: name, discountType: discountType, discountValue: value, stock: stock,
                      validFrom: Timestamp(milliseconds: validFrom), validUntil: Timestamp(milliseconds: validUntil))
    }
}
