import CommerceStore
import GRDB

/// The durable record of coupons and of who was issued them. Redis decides issuances (the coupon
/// gate); this is where each one is kept. Every function runs inside the caller's transaction.
enum CouponBook {
    /// What ``coupon(_:)`` reads, first in a row.
    private static let columns = "id, name, discount_type, discount_value, stock, valid_from, valid_until, terms_version"

    /// Adds a coupon and returns it with its new id.
    static func create(_ db: Database, _ coupon: NewCoupon, at now: Int64) throws -> Coupon {
        try db.execute(sql: """
            INSERT INTO coupons (name, discount_type, discount_value, stock, valid_from, valid_until, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """, arguments: [coupon.name, coupon.discountType.rawValue, coupon.discountValue, coupon.stock,
                             coupon.validFrom.milliseconds, coupon.validUntil.milliseconds, now])
        return Coupon(couponID: db.lastInsertedRowID, name: coupon.name, discountType: coupon.discountType,
                      discountValue: coupon.discountValue, stock: coupon.stock, validFrom: coupon.validFrom,
                      validUntil: coupon.validUntil)
    }

    /// Removes a coupon nobody was issued (the compensation when it could not be published).
    static func delete(_ db: Database, couponID: Int64) throws {
        try db.execute(sql: """
            DELETE FROM coupons WHERE id = ? AND NOT EXISTS (SELECT 1 FROM user_coupons WHERE coupon_id = ?)
            """, arguments: [couponID, couponID])
    }

    /// Sets stock and `valid_until` and moves the version on, if the coupon's version is still
    /// `current`'s and the stock is not below its holders.
    static func changeTerms(_ db: Database, of current: Coupon, stock: Int64, validUntil: Timestamp) throws -> TermsChangeOutcome {
        try db.execute(sql: """
            UPDATE coupons SET stock = ?, valid_until = ?, terms_version = terms_version + 1
            WHERE id = ? AND terms_version = ? AND issued <= ?
            """, arguments: [stock, validUntil.milliseconds, current.couponID, current.termsVersion, stock])
        if db.changesCount == 1, let changed = try find(db, couponID: current.couponID) { return .changed(changed) }
        guard let row = try Row.fetchOne(db, sql: "SELECT terms_version, issued FROM coupons WHERE id = ?",
                                         arguments: [current.couponID]),
              row[0] as Int64 == current.termsVersion else { return .changedMeanwhile }
        return .belowIssued(issued: row[1])
    }

    /// The coupon with this id, or nil.
    static func find(_ db: Database, couponID: Int64) throws -> Coupon? {
        let statement = try db.cachedStatement(sql: """
            SELECT \(columns) FROM coupons WHERE id = ?
            """)
        return try Row.fetchOne(statement, arguments: [couponID]).map { try coupon($0) }
    }

    /// Inserts a row for each issuance whose user holds no row of the coupon yet, in the batch's
    /// order up to the stock left, in one statement; returns the users it inserted. Everything
    /// else (a user with a row already, no stock left, a coupon that does not exist) is left to
    /// ``recordIssue(_:userID:couponID:issuedAt:)``. A user twice in `issuances` must not be:
    /// the second would take a place of the limit.
    static func recordNewIssues(_ db: Database, couponID: Int64, _ issuances: [Issuance]) throws -> [Int64] {
        let statement = try db.cachedStatement(sql: """
            INSERT INTO user_coupons (user_id, coupon_id, issued_at)
            SELECT j.value ->> 0, c.id, j.value ->> 1 FROM json_each(?1) j JOIN coupons c ON c.id = ?2
            WHERE NOT EXISTS (SELECT 1 FROM user_coupons u WHERE u.user_id = j.value ->> 0 AND u.coupon_id = ?2)
            ORDER BY j.key
            LIMIT (SELECT max(0, stock - issued) FROM coupons WHERE id = ?2)
            ON CONFLICT (user_id, coupon_id) DO NOTHING
            RETURNING user_id
            """)
        return try Int64.fetchAll(statement, arguments: [jsonPairs(issuances), couponID])
    }

    /// Records that `userID` was issued the coupon at `issuedAt`: `COUPON_ALREADY_ISSUED` when a
    /// row of another issuance exists already (a row of this very issuance is success),
    /// `COUPON_SOLD_OUT` when no stock is left, and `COUPON_NOT_FOUND` when there is no such coupon.
    static func recordIssue(_ db: Database, userID: Int64, couponID: Int64, issuedAt: Int64) throws {
        // One statement: the SELECT finds the coupon with stock left (no row, nothing inserted),
        // the conflict clause finds the duplicate; only the rare zero-change case needs a second look.
        try db.cachedStatement(sql: """
            INSERT INTO user_coupons (user_id, coupon_id, issued_at)
            SELECT ?, id, ? FROM coupons WHERE id = ? AND issued < stock
            ON CONFLICT (user_id, coupon_id) DO NOTHING
            """).execute(arguments: [userID, issuedAt, couponID])
        guard db.changesCount == 0 else { return }
        guard try find(db, couponID: couponID) != nil else { throw CommerceError.couponNotFound(couponID) }
        // The same issuance, already recorded by the reconcile job from Redis: done.
        let recorded = try Int64.fetchOne(db, sql: "SELECT issued_at FROM user_coupons WHERE user_id = ? AND coupon_id = ?",
                                          arguments: [userID, couponID])
        if recorded == issuedAt { return }
        if recorded != nil { throw CommerceError.alreadyIssued(userID: userID, couponID: couponID) }
        throw CommerceError.couponSoldOut(couponID)
    }

    /// Every coupon the user was issued, most recently issued first.
    static func held(_ db: Database, userID: Int64) throws -> [HeldCoupon] {
        let statement = try db.cachedStatement(sql: """
            SELECT c.id, c.name, c.discount_type, c.discount_value, c.stock, c.valid_from, c.valid_until, c.terms_version,
                   uc.issued_at, uc.used_at, uc.order_id
            FROM user_coupons uc JOIN coupons c ON c.id = uc.coupon_id
            WHERE uc.user_id = ?
            ORDER BY uc.issued_at DESC, uc.id DESC
            """)
        return try Row.fetchAll(statement, arguments: [userID]).map { row in
            HeldCoupon(coupon: try coupon(row), issuedAt: Timestamp(milliseconds: row[8]),
                       usedAt: (row[9] as Int64?).map(Timestamp.init(milliseconds:)), orderID: row[10])
        }
    }

    /// How many users hold the coupon according to SQLite.
    static func issuedCount(_ db: Database, couponID: Int64) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM user_coupons WHERE coupon_id = ?", arguments: [couponID]) ?? 0
    }

    private static func coupon(_ row: Row) throws -> Coupon {
        guard let type = DiscountType(rawValue: row[2]) else {
            throw DatabaseError(resultCode: .SQLITE_CORRUPT, message: "coupon \(row[0] as Int64) has discount type \(row[2] as String)")
        }
        return Coupon(couponID: row[0], name: row[1], discountType: type, discountValue: row[3], stock: row[4],
                      validFrom: Timestamp(milliseconds: row[5]), validUntil: Timestamp(milliseconds: row[6]),
                      termsVersion: row[7])
    }
}

extension CouponBook {
    /// Up to `limit` issuances of the coupon with user ids above `afterUser`, by user id: one
    /// keyset page of the coupon's rows.
    static func issuances(_ db: Database, couponID: Int64, afterUser: Int64, limit: Int) throws -> [Issuance] {
        try Row.fetchAll(db.cachedStatement(sql: """
            SELECT user_id, issued_at FROM user_coupons WHERE coupon_id = ? AND user_id > ? ORDER BY user_id LIMIT ?
            """), arguments: [couponID, afterUser, limit]).map { Issuance(userID: $0[0], issuedAt: $0[1]) }
    }

    /// Starts an empty staging table for issuances found in Redis, on this connection (a TEMP
    /// table: nothing durable). Found in hash order, they are checked and inserted later in user
    /// order (``sortStaged(_:)``, then ``recordStaged(_:couponID:afterUser:limit:dryRun:)``),
    /// which walks the index once instead of jumping around it: linear in the count, not worse.
    /// (HSCAN may return an entry twice; the insert and the count ignore repeats.)
    static func startStaging(_ db: Database) throws {
        try db.execute(sql: """
            DROP TABLE IF EXISTS temp.staged_issuances;
            CREATE TEMP TABLE staged_issuances (user_id INTEGER NOT NULL, issued_at INTEGER NOT NULL);
            """)
    }

    /// Sorts the staged issuances by user (one index build: SQLite's external sort), once all
    /// are staged; appending unsorted and sorting once is far cheaper than keeping them sorted.
    /// The index covers the issue time too, so reading in user order never visits the table
    /// (whose rows lie in hash order: those visits made the insert superlinear).
    static func sortStaged(_ db: Database) throws {
        try db.execute(sql: "CREATE INDEX temp.staged_issuances_by_user ON staged_issuances (user_id, issued_at)")
    }

    /// Adds issuances to the staging table.
    static func stage(_ db: Database, _ issuances: [Issuance]) throws {
        try db.execute(sql: """
            INSERT INTO temp.staged_issuances (user_id, issued_at)
            SELECT json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]') FROM json_each(?) j
            """, arguments: [jsonPairs(issuances)])
    }

    /// The next `limit` staged issuances after `afterUser` (by user id) that have no row for the
    /// coupon and are no pending give-back get one with their issue time, up to the stock left
    /// (with `dryRun`, are only counted). Returns the last
    /// user id looked at (nil: none left) and how many rows were (or would be) added.
    static func recordStaged(
        _ db: Database, couponID: Int64, afterUser: Int64, limit: Int, dryRun: Bool
    ) throws -> (lastUser: Int64?, added: Int) {
        guard let last = try Int64.fetchOne(db, sql: """
            SELECT max(user_id) FROM (SELECT user_id FROM temp.staged_issuances WHERE user_id > ? ORDER BY user_id LIMIT ?)
            """, arguments: [afterUser, limit]) else { return (nil, 0) }
        if dryRun {
            let missing = try Int.fetchOne(db, sql: """
                SELECT COUNT(DISTINCT s.user_id) FROM temp.staged_issuances s WHERE s.user_id > ? AND s.user_id <= ?
                AND NOT EXISTS (SELECT 1 FROM user_coupons u WHERE u.user_id = s.user_id AND u.coupon_id = ?)
                AND NOT EXISTS (SELECT 1 FROM coupon_give_backs g
                                WHERE g.coupon_id = ? AND g.user_id = s.user_id AND g.issued_at = s.issued_at)
                """, arguments: [afterUser, last, couponID, couponID]) ?? 0
            return (last, missing)
        }
        try db.execute(sql: """
            INSERT INTO user_coupons (user_id, coupon_id, issued_at)
            SELECT s.user_id, ?1, s.issued_at FROM temp.staged_issuances s WHERE s.user_id > ?2 AND s.user_id <= ?3
            AND NOT EXISTS (SELECT 1 FROM user_coupons u WHERE u.user_id = s.user_id AND u.coupon_id = ?1)
            AND NOT EXISTS (SELECT 1 FROM coupon_give_backs g
                            WHERE g.coupon_id = ?1 AND g.user_id = s.user_id AND g.issued_at = s.issued_at)
            GROUP BY s.user_id ORDER BY min(s.issued_at), s.user_id
            LIMIT (SELECT max(0, stock - issued) FROM coupons WHERE id = ?1)
            ON CONFLICT (user_id, coupon_id) DO NOTHING
            """, arguments: [couponID, afterUser, last])
        return (last, db.changesCount)
    }

    /// Every coupon's terms, a keyset page at a time (ids above `afterID`).
    static func page(_ db: Database, afterID: Int64, limit: Int) throws -> [Coupon] {
        try Row.fetchAll(db, sql: """
            SELECT \(columns) FROM coupons
            WHERE id > ? ORDER BY id LIMIT ?
            """, arguments: [afterID, limit]).map { try coupon($0) }
    }

    static func active(_ db: Database, at now: Int64, limit: Int) throws -> [Coupon] {
        try Row.fetchAll(db, sql: """
            SELECT \(columns) FROM coupons
            WHERE valid_from <= ? AND valid_until >= ? ORDER BY id LIMIT ?
            """, arguments: [now, now, limit]).map { try coupon($0) }
    }

    /// Records issuances answered "nothing was issued" that Redis may still hold.
    static func recordGiveBacks(_ db: Database, couponID: Int64, _ issuances: [Issuance], at now: Int64) throws {
        try db.execute(sql: """
            INSERT INTO coupon_give_backs (coupon_id, user_id, issued_at, created_at)
            SELECT ?, j.value ->> 0, j.value ->> 1, ? FROM json_each(?) j WHERE true
            ON CONFLICT DO NOTHING
            """, arguments: [couponID, now, jsonPairs(issuances)])
    }

    /// Forgets a give-back done in Redis, and removes the unused row it may have got meanwhile.
    static func finishGiveBack(_ db: Database, couponID: Int64, _ issuance: Issuance) throws {
        try db.execute(sql: """
            DELETE FROM user_coupons WHERE coupon_id = ?1 AND user_id = ?2 AND issued_at = ?3 AND used_at IS NULL
            AND EXISTS (SELECT 1 FROM coupon_give_backs WHERE coupon_id = ?1 AND user_id = ?2 AND issued_at = ?3)
            """, arguments: [couponID, issuance.userID, issuance.issuedAt])
        try db.execute(sql: "DELETE FROM coupon_give_backs WHERE coupon_id = ? AND user_id = ? AND issued_at = ?",
                       arguments: [couponID, issuance.userID, issuance.issuedAt])
    }

    static func pendingGiveBacks(_ db: Database, couponID: Int64, limit: Int) throws -> [Issuance] {
        try Row.fetchAll(db, sql: """
            SELECT user_id, issued_at FROM coupon_give_backs WHERE coupon_id = ? ORDER BY user_id LIMIT ?
            """, arguments: [couponID, limit]).map { Issuance(userID: $0[0], issuedAt: $0[1]) }
    }

    static func holders(_ db: Database, couponID: Int64, among users: [Int64]) throws -> [Int64: Int64] {
        let list = "[" + users.map(String.init).joined(separator: ",") + "]"
        var holders: [Int64: Int64] = [:]
        for row in try Row.fetchAll(db, sql: """
            SELECT u.user_id, u.issued_at FROM json_each(?) j JOIN user_coupons u ON u.user_id = j.value AND u.coupon_id = ?
            """, arguments: [list, couponID]) {
            holders[row[0]] = row[1]
        }
        return holders
    }

    /// `[[user, issued_at], ...]`: a batch as one statement argument.
    private static func jsonPairs(_ issuances: [Issuance]) -> String {
        var text = "["
        text.reserveCapacity(issuances.count * 24)
        for (index, issuance) in issuances.enumerated() {
            if index > 0 { text += "," }
            text += "[\(issuance.userID),\(issuance.issuedAt)]"
        }
        return text + "]"
    }
}
