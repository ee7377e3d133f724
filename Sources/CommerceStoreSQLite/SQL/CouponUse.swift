import CommerceStore
import GRDB

/// A coupon a user holds, about to be used on an order.
struct CouponUse {
    let userCouponID: Int64
    let discountType: DiscountType
    let discountValue: Int64

    /// The user's coupon, checked usable at `now`: `COUPON_NOT_OWNED` (also for a coupon that
    /// does not exist), `COUPON_ALREADY_USED`, `COUPON_EXPIRED` (outside its validity).
    static func find(_ db: Database, userID: Int64, couponID: Int64, at now: Int64) throws -> CouponUse {
        let statement = try db.cachedStatement(sql: """
            SELECT uc.id, uc.used_at, c.discount_type, c.discount_value, c.valid_from, c.valid_until
            FROM user_coupons uc JOIN coupons c ON c.id = uc.coupon_id
            WHERE uc.user_id = ? AND uc.coupon_id = ?
            """)
        guard let row = try Row.fetchOne(statement, arguments: [userID, couponID]),
              let type = DiscountType(rawValue: row[2]) else {
            throw CommerceError(.couponNotOwned, "user \(userID) does not hold coupon \(couponID)")
        }
        guard row[1] as Int64? == nil else {
            throw CommerceError(.couponAlreadyUsed, "coupon \(couponID) was already used")
        }
        let validFrom: Int64 = row[4], validUntil: Int64 = row[5]
        guard validFrom <= now && now <= validUntil else {
            throw CommerceError(.couponExpired, now < validFrom
                ? "coupon \(couponID) is valid from \(Timestamp(milliseconds: validFrom))"
                : "coupon \(couponID) expired at \(Timestamp(milliseconds: validUntil))")
        }
        return CouponUse(userCouponID: row[0], discountType: type, discountValue: row[3])
    }

    func discount(on subtotal: Int64) -> Int64 {
        discountType.discount(discountValue, on: subtotal)
    }

    func markUsed(_ db: Database, orderID: Int64, at now: Int64) throws {
        try db.cachedStatement(sql: "UPDATE user_coupons SET used_at = ?, order_id = ? WHERE id = ? AND used_at IS NULL")
            .execute(arguments: [now, orderID, userCouponID])
        guard db.changesCount == 1 else {
            throw CommerceError(.couponAlreadyUsed, "the coupon was already used")
        }
    }
}
