import CommerceStore
import PostgresNIO

struct PostgresCouponStore: CouponStore {
    let store: PostgresStore

    /// What ``coupon(_:)`` reads, first in a row.
    private static let columns = "c.id, c.name, c.discount_type, c.discount_value, c.stock, c.valid_from, c.valid_until, c.terms_version"

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
                SELECT \(unescaped: Self.columns) FROM coupons c WHERE c.id = \(couponID)
                """).first.map(Self.coupon)
        }
    }

    func changeTerms(of current: Coupon, stock: Int64, validUntil: Timestamp) async throws -> TermsChangeOutcome {
        try await store.connection { connection in
            if let changed = try await connection.rows("""
                UPDATE coupons c SET stock = \(stock), valid_until = \(validUntil.milliseconds), terms_version = c.terms_version + 1
                WHERE c.id = \(current.couponID) AND c.terms_version = \(current.termsVersion) AND c.issued <= \(stock)
                RETURNING \(unescaped: Self.columns)
                """).first {
                return .changed(try Self.coupon(changed))
            }
            guard let row = try await connection.rows("""
                SELECT terms_version, issued FROM coupons WHERE id = \(current.couponID)
                """).first else { return .changedMeanwhile }
            let (version, issued) = try row.decode((Int64, Int64).self)
            return version == current.termsVersion ? .belowIssued(issued: issued) : .changedMeanwhile
        }
    }

    func page(afterID: Int64, limit: Int) async throws -> [Coupon] {
        try await store.connection { connection in
            try await connection.rows("""
                SELECT \(unescaped: Self.columns) FROM coupons c
                WHERE c.id > \(afterID) ORDER BY c.id LIMIT \(Int64(limit))
                """).map(Self.coupon)
        }
    }

    func active(at now: Int64, limit: Int) async throws -> [Coupon] {
        try await store.connection { connection in
            try await connection.rows("""
                SELECT \(unescaped: Self.columns) FROM coupons c
                WHERE c.valid_from <= \(now) AND c.valid_until >= \(now) ORDER BY c.id LIMIT \(Int64(limit))
                """).map(Self.coupon)
        }
    }

    /// Concurrent calls are merged (``IssuanceWrites``) and written with ``write(_:)``.
    func recordIssues(couponID: Int64, _ issuances: [Issuance]) async throws -> [Result<Void, any Error>] {
        guard !issuances.isEmpty else { return [] }
        return try await store.issuanceWrites.record(.init(couponID: couponID, issuances: issuances)) { batches in
            try await store.connection { try await Self.write(batches, on: $0) }
        }
    }

    /// One statement for all the batches (no savepoint per row): the rows go in with
    /// `ON CONFLICT DO NOTHING` up to each coupon's stock left (``InsertIssuances``), and those
    /// it inserted are recorded; one it did not insert and whose user holds no row found no
    /// stock left. Only for the others (a user
    /// holding the coupon already, a coupon that does not exist: rare, since Redis decided each
    /// issuance once) a second statement reads what their users' rows hold: the same issue time
    /// is success (a repeat, or the reconcile job's copy), another is `COUPON_ALREADY_ISSUED`, no
    /// coupon is `COUPON_NOT_FOUND`.
    private static func write(_ batches: [IssuanceWrites.Batch], on connection: PostgresConnection) async throws -> [IssuanceWrites.Results] {
        let rows = batches.flatMap { batch in batch.issuances.map { (couponID: batch.couponID, issuance: $0) } }
        struct Key: Hashable { let coupon: Int64, user: Int64 }
        var recorded: [Key: Int64] = [:]
        let inserted = try await connection.rows(InsertIssuances(
            coupons: rows.map(\.couponID), users: rows.map(\.issuance.userID), times: rows.map(\.issuance.issuedAt), skipGiveBacks: false))
        for row in inserted { recorded[Key(coupon: row.coupon, user: row.user)] = row.issuedAt }
        var existingCoupons = Set(recorded.keys.map(\.coupon))
        let others = rows.filter { recorded[Key(coupon: $0.couponID, user: $0.issuance.userID)] == nil }
        if !others.isEmpty {
            for row in try await connection.rows("""
                SELECT uc.coupon_id, uc.user_id, uc.issued_at FROM user_coupons uc
                JOIN unnest(\(others.map(\.couponID)), \(others.map(\.issuance.userID))) AS t(coupon_id, user_id)
                  ON uc.coupon_id = t.coupon_id AND uc.user_id = t.user_id
                """) {
                let (coupon, user, issuedAt) = try row.decode((Int64, Int64, Int64).self)
                recorded[Key(coupon: coupon, user: user)] = issuedAt
            }
            existingCoupons.formUnion(try await connection.values(Int64.self, """
                SELECT id FROM coupons WHERE id = ANY(\(Array(Set(others.map(\.couponID)))))
                """))
        }
        return batches.map { batch in
            guard existingCoupons.contains(batch.couponID) else {
                return batch.issuances.map { _ in .failure(CommerceError.couponNotFound(batch.couponID)) }
            }
            return batch.issuances.map { issuance in
                switch recorded[Key(coupon: batch.couponID, user: issuance.userID)] {
                case issuance.issuedAt?: return .success(())
                case _?: return .failure(CommerceError.alreadyIssued(userID: issuance.userID, couponID: batch.couponID))
                case nil:
                    // Not inserted and no row: the stock was used up before this one's turn.
                    return .failure(CommerceError.couponSoldOut(batch.couponID))
                }
            }
        }
    }

    func held(userID: Int64) async throws -> [HeldCoupon] {
        try await store.connection { connection in
            try await connection.rows("""
                SELECT \(unescaped: Self.columns), uc.issued_at, uc.used_at, uc.order_id
                FROM user_coupons uc JOIN coupons c ON c.id = uc.coupon_id
                WHERE uc.user_id = \(userID)
                ORDER BY uc.issued_at DESC, uc.id DESC
                """).map { row in
                let (_, _, _, _, _, _, _, _, issuedAt, usedAt, orderID) =
                    try row.decode((Int64, String, String, Int64, Int64, Int64, Int64, Int64, Int64, Int64?, Int64?).self)
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

    /// Each batch handed over is one statement: the missing rows inserted by issue time up to the
    /// stock left, pending give-backs left out (``InsertIssuances``, whose `ON CONFLICT DO
    /// NOTHING` keeps every existing row and skips repeats), or with `dryRun` only counted. The
    /// unique index does the matching; nothing is staged.
    func recordMissingIssuances(
        couponID: Int64, dryRun: Bool, next: @Sendable () async throws -> [Issuance]?,
        checked: @Sendable (Int) async throws -> Void
    ) async throws -> Int64 {
        var added: Int64 = 0
        var compared = 0
        // A dry run's repeats across batches must count once: the users counted so far.
        var counted = Set<Int64>()
        while let unsorted = try await next() {
            let batch = unsorted.sorted { ($0.issuedAt, $0.userID) < ($1.issuedAt, $1.userID) }
            let users = batch.map(\.userID), times = batch.map(\.issuedAt)
            if dryRun {
                let missing = try await store.connection { connection in
                    try await connection.values(Int64.self, """
                        SELECT DISTINCT t.user_id FROM unnest(\(users), \(times)) AS t(user_id, issued_at)
                        WHERE NOT EXISTS (SELECT 1 FROM user_coupons u WHERE u.user_id = t.user_id AND u.coupon_id = \(couponID))
                        AND NOT EXISTS (SELECT 1 FROM coupon_give_backs g
                                        WHERE g.coupon_id = \(couponID) AND g.user_id = t.user_id AND g.issued_at = t.issued_at)
                        """)
                }
                for user in missing where counted.insert(user).inserted { added += 1 }
            } else {
                added += try await store.connection { connection in
                    Int64(try await connection.rows(InsertIssuances(
                        coupons: Array(repeating: couponID, count: batch.count), users: users, times: times,
                        skipGiveBacks: true)).count)
                }
            }
            compared += batch.count
            try await checked(compared)
        }
        return added
    }

    func recordGiveBacks(couponID: Int64, _ issuances: [Issuance], at now: Int64) async throws {
        guard !issuances.isEmpty else { return }
        try await store.connection { connection in
            try await connection.run("""
                INSERT INTO coupon_give_backs (coupon_id, user_id, issued_at, created_at)
                SELECT \(couponID), t.user_id, t.issued_at, \(now)
                FROM unnest(\(issuances.map(\.userID)), \(issuances.map(\.issuedAt))) AS t(user_id, issued_at)
                ON CONFLICT DO NOTHING
                """)
        }
    }

    /// One statement: the row goes only while its give-back is still recorded.
    func finishGiveBack(couponID: Int64, _ issuance: Issuance) async throws {
        try await store.connection { connection in
            try await connection.run("""
                WITH done AS (
                    DELETE FROM coupon_give_backs
                    WHERE coupon_id = \(couponID) AND user_id = \(issuance.userID) AND issued_at = \(issuance.issuedAt)
                    RETURNING coupon_id, user_id, issued_at)
                DELETE FROM user_coupons u USING done
                WHERE u.coupon_id = done.coupon_id AND u.user_id = done.user_id AND u.issued_at = done.issued_at
                AND u.used_at IS NULL
                """)
        }
    }

    func pendingGiveBacks(couponID: Int64, limit: Int) async throws -> [Issuance] {
        try await store.connection { connection in
            try await connection.rows("""
                SELECT user_id, issued_at FROM coupon_give_backs WHERE coupon_id = \(couponID) ORDER BY user_id LIMIT \(Int64(limit))
                """).map { row in
                let (user, issuedAt) = try row.decode((Int64, Int64).self)
                return Issuance(userID: user, issuedAt: issuedAt)
            }
        }
    }

    func holders(couponID: Int64, among users: [Int64]) async throws -> [Int64: Int64] {
        guard !users.isEmpty else { return [:] }
        return try await store.connection { connection in
            var holders: [Int64: Int64] = [:]
            for row in try await connection.rows("""
                SELECT user_id, issued_at FROM user_coupons WHERE coupon_id = \(couponID) AND user_id = ANY(\(users))
                """) {
                let (user, issuedAt) = try row.decode((Int64, Int64).self)
                holders[user] = issuedAt
            }
            return holders
        }
    }

    /// A coupon from its eight columns, first in the row.
    private static func coupon(_ row: PostgresRow) throws -> Coupon {
        let (id, name, type, value, stock, validFrom, validUntil, version) =
            try row.decode((Int64, String, String, Int64, Int64, Int64, Int64, Int64).self)
        guard let discountType = DiscountType(rawValue: type) else {
            throw StoreError(.unavailable, "coupon \(id) has discount type \(type)")
        }
        return Coupon(couponID: id, name: name, discountType: discountType, discountValue: value, stock: stock,
                      validFrom: Timestamp(milliseconds: validFrom), validUntil: Timestamp(milliseconds: validUntil),
                      termsVersion: version)
    }
}
