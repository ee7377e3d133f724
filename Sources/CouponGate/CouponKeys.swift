/// The Redis keys of one coupon. The `{id}` hash tag puts all three in one Redis Cluster slot,
/// so a script may touch them together.
public struct CouponKeys: Sendable, Hashable {
    /// Hash: `valid_from`, `valid_until` (ms since the epoch) and `stock`.
    public let meta: String
    /// Integer: how many may still be issued.
    public let remaining: String
    /// Hash: user id → issue time (ms since the epoch); dedupe and issue time in one place.
    public let issued: String

    /// Meta, remaining, issued: the order the coupon scripts take them in.
    public var all: [String] { [meta, remaining, issued] }

    public init(couponID: Int64) {
        meta = "coupon:{\(couponID)}:meta"
        remaining = "coupon:{\(couponID)}:remaining"
        issued = "coupon:{\(couponID)}:issued"
    }
}
