/// A business rule said no: the request was understood but cannot be carried out as asked.
/// Nothing was changed. ``Code`` is the contract's stable error code (`INSUFFICIENT_STOCK`, ...);
/// the HTTP layer decides the status.
public struct CommerceError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        /// The contract's code, e.g. `ITEM_NOT_FOUND`.
        public let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        public static let itemNotFound = Code("ITEM_NOT_FOUND")
        public static let orderNotFound = Code("ORDER_NOT_FOUND")
        public static let couponNotFound = Code("COUPON_NOT_FOUND")
        public static let insufficientStock = Code("INSUFFICIENT_STOCK")
        public static let insufficientBalance = Code("INSUFFICIENT_BALANCE")
        public static let balanceLimitExceeded = Code("BALANCE_LIMIT_EXCEEDED")
        public static let couponNotOwned = Code("COUPON_NOT_OWNED")
        public static let couponAlreadyUsed = Code("COUPON_ALREADY_USED")
        public static let couponExpired = Code("COUPON_EXPIRED")
        public static let couponSoldOut = Code("COUPON_SOLD_OUT")
        public static let couponAlreadyIssued = Code("COUPON_ALREADY_ISSUED")
        public static let couponNotActive = Code("COUPON_NOT_ACTIVE")
        public static let couponStockBelowIssued = Code("COUPON_STOCK_BELOW_ISSUED")
        public static let idempotencyKeyReused = Code("IDEMPOTENCY_KEY_REUSED")

        /// The codes that mean "no such thing" rather than "not allowed now".
        public var isNotFound: Bool { name.hasSuffix("_NOT_FOUND") }
    }

    public let code: Code
    /// For people: what was refused and why.
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}

extension CommerceError {
    /// `ITEM_NOT_FOUND` for this id.
    public static func itemNotFound(_ itemID: Int64) -> CommerceError {
        CommerceError(.itemNotFound, "item \(itemID) does not exist")
    }

    /// `COUPON_NOT_FOUND` for this id.
    public static func couponNotFound(_ couponID: Int64) -> CommerceError {
        CommerceError(.couponNotFound, "coupon \(couponID) does not exist")
    }

    /// `COUPON_SOLD_OUT` for this id.
    public static func couponSoldOut(_ couponID: Int64) -> CommerceError {
        CommerceError(.couponSoldOut, "coupon \(couponID) is sold out")
    }

    /// `COUPON_ALREADY_ISSUED`: the user holds the coupon.
    public static func alreadyIssued(userID: Int64, couponID: Int64) -> CommerceError {
        CommerceError(.couponAlreadyIssued, "user \(userID) already has coupon \(couponID)")
    }
}

extension CommerceError {
    /// `ITEM_NOT_FOUND` naming every missing item of an order.
    public static func itemsNotFound(_ itemIDs: [Int64]) -> CommerceError {
        CommerceError(.itemNotFound, "no such item: \(itemIDs.map(String.init).joined(separator: ", "))")
    }

    /// `INSUFFICIENT_STOCK` naming every item of an order short of stock.
    public static func insufficientStock(_ itemIDs: [Int64]) -> CommerceError {
        CommerceError(.insufficientStock, "not enough stock for item \(itemIDs.map(String.init).joined(separator: ", "))")
    }

    /// `COUPON_NOT_OWNED`: the user holds no such coupon (or it does not exist).
    public static func couponNotOwned(userID: Int64, couponID: Int64) -> CommerceError {
        CommerceError(.couponNotOwned, "user \(userID) does not hold coupon \(couponID)")
    }

    /// `COUPON_ALREADY_USED` on an earlier order.
    public static func couponAlreadyUsed(_ couponID: Int64) -> CommerceError {
        CommerceError(.couponAlreadyUsed, "coupon \(couponID) was already used")
    }

    /// `COUPON_EXPIRED`: `now` is outside the coupon's window (before it opens, or after it closed).
    public static func couponExpired(_ couponID: Int64, validFrom: Int64, validUntil: Int64, now: Int64) -> CommerceError {
        CommerceError(.couponExpired, now < validFrom
            ? "coupon \(couponID) is valid from \(Timestamp(milliseconds: validFrom))"
            : "coupon \(couponID) expired at \(Timestamp(milliseconds: validUntil))")
    }

    /// `INSUFFICIENT_BALANCE`: the order costs more than the user's balance.
    public static func insufficientBalance(cost: Int64, userID: Int64, balance: Int64) -> CommerceError {
        CommerceError(.insufficientBalance, "the order costs \(cost) but user \(userID) has \(balance) points")
    }

    /// `BALANCE_LIMIT_EXCEEDED`: a charge would take the balance over ``PointLimits/balance``.
    public static func balanceLimitExceeded(userID: Int64, charging amount: Int64) -> CommerceError {
        CommerceError(.balanceLimitExceeded, "charging \(amount) would take user \(userID)'s balance over \(PointLimits.balance)")
    }

    /// `IDEMPOTENCY_KEY_REUSED`: the user sent this key before with another request.
    public static func idempotencyKeyReused(_ key: String) -> CommerceError {
        CommerceError(.idempotencyKeyReused, "Idempotency-Key \(key) was used by this user for a different request")
    }
}
