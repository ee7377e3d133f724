import CommerceStore
import CouponGate
import FlatJSON

extension Coupon {
    /// The coupon's own fields; the admin view adds live counts after them.
    public func writeFields(to json: inout JSONWriter) {
        json.field("coupon_id", couponID)
        json.field("name", name)
        json.field("discount_type", discountType.rawValue)
        json.field("discount_value", discountValue)
        json.field("stock", stock)
        json.field("valid_from", validFrom)
        json.field("valid_until", validUntil)
    }
}

/// `{"user_id", "coupon_id", "issued_at"}`, the body of a 201 from `/coupons/issue`.
extension IssuedCoupon: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object {
            $0.field("user_id", userID)
            $0.field("coupon_id", couponID)
            $0.field("issued_at", issuedAt)
        }
    }
}

/// A coupon a user holds, as `GET /coupons` lists it.
extension HeldCoupon: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object {
            $0.field("coupon_id", coupon.couponID)
            $0.field("name", coupon.name)
            $0.field("discount_type", coupon.discountType.rawValue)
            $0.field("discount_value", coupon.discountValue)
            $0.field("issued_at", issuedAt)
            $0.field("used", usedAt != nil)
            $0.field("used_at", usedAt)
            $0.field("order_id", orderID)
            $0.field("valid_from", coupon.validFrom)
            $0.field("valid_until", coupon.validUntil)
        }
    }
}
