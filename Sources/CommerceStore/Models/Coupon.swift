/// A coupon's kind of discount, as the contract spells it.
public enum DiscountType: String, Sendable, Hashable, CaseIterable {
    /// `discount_value` won off, at most the subtotal.
    case fixed = "FIXED"
    /// `subtotal * discount_value / 100`, rounded down.
    case percent = "PERCENT"

    /// The values this type allows: FIXED 1...1,000,000,000 won, PERCENT 1...100.
    public var valueRange: ClosedRange<Int64> {
        switch self {
        case .fixed: 1...1_000_000_000
        case .percent: 1...100
        }
    }

    /// The discount on `subtotal`: FIXED capped at the subtotal, PERCENT rounded down.
    public func discount(_ value: Int64, on subtotal: Int64) -> Int64 {
        switch self {
        case .fixed: min(value, subtotal)
        case .percent: subtotal * value / 100
        }
    }
}

/// A coupon as an admin creates it; issued first come, first served, up to `stock` users.
public struct Coupon: Sendable, Hashable {
    public var couponID: Int64
    public var name: String
    public var discountType: DiscountType
    public var discountValue: Int64
    /// How many users may ever be issued it.
    public var stock: Int64
    /// The issue window (and the window in which it can be used), inclusive at both ends.
    public var validFrom: Timestamp
    public var validUntil: Timestamp

    public init(couponID: Int64, name: String, discountType: DiscountType, discountValue: Int64,
                stock: Int64, validFrom: Timestamp, validUntil: Timestamp) {
        self.couponID = couponID
        self.name = name
        self.discountType = discountType
        self.discountValue = discountValue
        self.stock = stock
        self.validFrom = validFrom
        self.validUntil = validUntil
    }

    /// Writes the coupon's own fields; the admin view adds live counts after them.
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

/// One issuance: `{"user_id", "coupon_id", "issued_at"}`, the body of a 201 from `/coupons/issue`.
public struct IssuedCoupon: Sendable, Hashable, JSONWritable {
    public var userID: Int64
    public var couponID: Int64
    public var issuedAt: Timestamp

    public init(userID: Int64, couponID: Int64, issuedAt: Timestamp) {
        self.userID = userID
        self.couponID = couponID
        self.issuedAt = issuedAt
    }

    public func write(to json: inout JSONWriter) {
        json.object {
            $0.field("user_id", userID)
            $0.field("coupon_id", couponID)
            $0.field("issued_at", issuedAt)
        }
    }
}

/// A coupon a user holds, as `GET /coupons` lists it.
public struct HeldCoupon: Sendable, Hashable, JSONWritable {
    public var coupon: Coupon
    public var issuedAt: Timestamp
    public var usedAt: Timestamp?
    /// The order it was used on, if any.
    public var orderID: Int64?

    public init(coupon: Coupon, issuedAt: Timestamp, usedAt: Timestamp?, orderID: Int64?) {
        self.coupon = coupon
        self.issuedAt = issuedAt
        self.usedAt = usedAt
        self.orderID = orderID
    }

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
