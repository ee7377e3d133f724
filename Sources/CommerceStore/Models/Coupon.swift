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
    /// Grows with every change of `stock` or the window (1 when created): Redis takes a coupon's
    /// terms only with a version above the one it holds, so changes apply in the store's order
    /// however late one of them reaches Redis.
    public var termsVersion: Int64

    public init(couponID: Int64, name: String, discountType: DiscountType, discountValue: Int64,
                stock: Int64, validFrom: Timestamp, validUntil: Timestamp, termsVersion: Int64 = 1) {
        self.termsVersion = termsVersion
        self.couponID = couponID
        self.name = name
        self.discountType = discountType
        self.discountValue = discountValue
        self.stock = stock
        self.validFrom = validFrom
        self.validUntil = validUntil
    }
}

/// One issuance as both Redis and the store keep it: the user and the issue time (ms since the
/// epoch). The issue time identifies the issuance: the same user and time is the same issuance.
public struct Issuance: Sendable, Hashable {
    public var userID: Int64
    public var issuedAt: Int64

    public init(userID: Int64, issuedAt: Int64) {
        self.userID = userID
        self.issuedAt = issuedAt
    }
}

/// A coupon as an admin asks for it, before it has an id.
public struct NewCoupon: Sendable, Hashable {
    public var name: String
    public var discountType: DiscountType
    public var discountValue: Int64
    public var stock: Int64
    public var validFrom: Timestamp
    public var validUntil: Timestamp

    public init(name: String, discountType: DiscountType, discountValue: Int64, stock: Int64,
                validFrom: Timestamp, validUntil: Timestamp) {
        self.name = name
        self.discountType = discountType
        self.discountValue = discountValue
        self.stock = stock
        self.validFrom = validFrom
        self.validUntil = validUntil
    }
}

/// A coupon a user holds, and whether it was used.
public struct HeldCoupon: Sendable, Hashable {
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
}
