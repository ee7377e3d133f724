import CommerceStore
import RedisClient

/// Creating a coupon, the one way: its row in the store, then its terms published to Redis
/// (with nothing issued). A publish that fails takes the row back, so a failure means nothing
/// was created and a retry does not leave a twin behind (without Redis nobody could be issued
/// it). Changing a coupon's terms later is ``CouponIssuer/changeTerms(couponID:stock:validUntil:)``.
public struct CouponCreation: Sendable {
    private let store: any CouponStore
    private let registry: CouponRegistry

    public init(store: any CouponStore, redis: any RedisClient) {
        self.store = store
        self.registry = CouponRegistry(redis: redis)
    }

    public func create(_ coupon: NewCoupon, at now: Int64) async throws -> Coupon {
        let created = try await store.create(coupon, at: now)
        do {
            try await registry.publish(CouponTerms(created))
        } catch {
            try await store.delete(couponID: created.couponID)
            throw error
        }
        return created
    }
}
