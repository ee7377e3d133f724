import Synchronization

/// Coupons this process has seen sold out, each remembered for a short while with who holds them.
/// While a coupon is flagged and its holders are known, requests for it are answered without a
/// Redis round trip — `COUPON_ALREADY_ISSUED` for a holder, `COUPON_SOLD_OUT` for anyone else:
/// after a sell-out the burst is all refusals, and they should cost the server as little as
/// possible. The flag expires on its own so that stock coming back (a give-back, a repair, a
/// restock) is noticed within `lifetime`; the holders are read again with the next flag.
///
/// Memory: at most ``maxHolders`` user ids per sold-out coupon (8 bytes each, about 4 MB for
/// 100,000 in a `Set`); a coupon with more holders is not answered from memory at all.
final class SoldOutFlags: Sendable {
    /// The most holders kept for one coupon.
    static let maxHolders = 100_000

    /// What the flags say about one request.
    enum Answer: Sendable {
        /// Not known to be sold out (or its holders not known yet): ask Redis.
        case unknown
        case soldOut
        case alreadyIssued
    }

    private struct Flag: Sendable {
        var expiry: ContinuousClock.Instant
        /// Nil until read (``flag(_:)`` says when they are wanted).
        var holders: Set<Int64>?
    }

    private let lifetime: Duration
    private let flags = Mutex<[Int64: Flag]>([:])

    init(lifetime: Duration) {
        self.lifetime = lifetime
    }

    func answer(couponID: Int64, userID: Int64) -> Answer {
        let now = ContinuousClock.now
        return flags.withLock { flags in
            guard let flag = flags[couponID] else { return .unknown }
            guard flag.expiry > now else {
                flags[couponID] = nil
                return .unknown
            }
            guard let holders = flag.holders else { return .unknown }
            return holders.contains(userID) ? .alreadyIssued : .soldOut
        }
    }

    /// Flags the coupon sold out (again); true when its holders are not known yet and should be
    /// read and handed to ``remember(holders:of:)``.
    @discardableResult
    func flag(_ couponID: Int64) -> Bool {
        let expiry = ContinuousClock.now + lifetime
        return flags.withLock { flags in
            if flags[couponID] != nil {
                flags[couponID]!.expiry = expiry
                return flags[couponID]!.holders == nil
            }
            flags[couponID] = Flag(expiry: expiry, holders: nil)
            return true
        }
    }

    /// The coupon's holders, read after it was flagged; kept while the flag lasts.
    func remember(holders: Set<Int64>, of couponID: Int64) {
        flags.withLock { flags in
            guard flags[couponID] != nil, holders.count <= Self.maxHolders else { return }
            flags[couponID]!.holders = holders
        }
    }

    func clear(_ couponID: Int64) {
        _ = flags.withLock { $0.removeValue(forKey: couponID) }
    }
}
