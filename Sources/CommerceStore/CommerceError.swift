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
