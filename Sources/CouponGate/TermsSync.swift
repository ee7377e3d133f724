import CommerceStore
import Logging
import Synchronization

/// Coupons whose terms Redis must be given again from the store: a change whose reply Redis
/// lost was set back in the store, and Redis may hold the change (it ran) or not. The coupon
/// gate's `run()` retries until Redis takes the store's terms (their version is above anything
/// sent before, so the lost change cannot win later), first finishing a set-back the store
/// could not take at the time.
final class TermsSync: Sendable {
    private let store: any CouponStore
    private let registry: CouponRegistry
    private let logger: Logger
    /// Coupon id → the set-back still to make in the store (the change, and the terms before it).
    private let pending = Mutex<[Int64: (changed: Coupon, previous: Coupon)?]>([:])

    init(store: any CouponStore, registry: CouponRegistry, logger: Logger) {
        self.store = store
        self.registry = registry
        self.logger = logger
    }

    /// Coupons still waiting.
    var count: Int { pending.withLock { $0.count } }

    /// Redis must be given the store's terms of the coupon, after `settingBack` (if any) is made.
    func needed(couponID: Int64, settingBack: (changed: Coupon, previous: Coupon)? = nil) {
        pending.withLock { pending in
            if let settingBack { pending[couponID] = settingBack } else if pending[couponID] == nil { pending[couponID] = .some(nil) }
        }
    }

    /// One round over the waiting coupons; one that still fails waits for the next.
    func retry() async {
        let due = pending.withLock { $0 }
        for (couponID, settingBack) in due {
            do {
                if let (changed, previous) = settingBack {
                    // Set back unless issuances were recorded under it; either way the store's
                    // terms are what Redis gets next.
                    _ = try await store.changeTerms(of: changed, stock: previous.stock, validUntil: previous.validUntil)
                }
                if let coupon = try await store.coupon(couponID) {
                    _ = try await registry.changeTerms(CouponTerms(coupon))
                }
                pending.withLock { _ = $0.removeValue(forKey: couponID) }
                logger.notice("coupon terms: Redis holds the store's terms again", metadata: ["coupon_id": "\(couponID)"])
            } catch {
                continue
            }
        }
    }
}
