import CommerceStore

/// One durable issuance, as the gate answers it: recorded in the store and held in Redis.
public struct IssuedCoupon: Sendable, Hashable {
    public var userID: Int64
    public var couponID: Int64
    public var issuedAt: Timestamp

    public init(userID: Int64, couponID: Int64, issuedAt: Timestamp) {
        self.userID = userID
        self.couponID = couponID
        self.issuedAt = issuedAt
    }
}
