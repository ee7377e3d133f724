import Synchronization

/// Coupons this process has seen sold out, each remembered for a short while. While a coupon is
/// flagged, requests for it are refused without a Redis round trip: after a sell-out the burst
/// is all refusals, and they should cost the server as little as possible. The flag expires on
/// its own so that stock coming back (a give-back, a repair) is noticed within `lifetime`.
final class SoldOutFlags: Sendable {
    private let lifetime: Duration
    private let expiries = Mutex<[Int64: ContinuousClock.Instant]>([:])

    init(lifetime: Duration) {
        self.lifetime = lifetime
    }

    func isFlagged(_ couponID: Int64) -> Bool {
        let now = ContinuousClock.now
        return expiries.withLock { expiries in
            guard let expiry = expiries[couponID] else { return false }
            if expiry > now { return true }
            expiries[couponID] = nil
            return false
        }
    }

    func flag(_ couponID: Int64) {
        let expiry = ContinuousClock.now + lifetime
        expiries.withLock { $0[couponID] = expiry }
    }

    func clear(_ couponID: Int64) {
        _ = expiries.withLock { $0.removeValue(forKey: couponID) }
    }
}
