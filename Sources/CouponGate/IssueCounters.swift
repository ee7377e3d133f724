import CommerceStore
import Synchronization

/// Per coupon, how issue requests ended in this process: issued, or refused and why. Kept as
/// plain counts so that a metrics exporter (or the admin view) can read them at any time.
public final class IssueCounters: Sendable {
    /// How one issue request ended.
    public enum Outcome: String, Sendable, Hashable, CaseIterable {
        case issued
        case soldOut = "sold_out"
        case alreadyIssued = "already_issued"
        case notActive = "not_active"
        case notFound = "not_found"
        /// Over the user's or the address's rate limit (429).
        case rateLimited = "rate_limited"
        /// Redis or the database could not be used; nothing was issued (503).
        case unavailable
    }

    private let counts = Mutex<[Int64: [Int64]]>([:])

    /// Where requests for coupons that do not exist are counted, all together: anyone can send
    /// new ids, and one entry each would grow without bound.
    public static let unknownCoupon: Int64 = 0

    public init() {}

    public func record(_ outcome: Outcome, couponID: Int64) {
        let index = Outcome.allCases.firstIndex(of: outcome)!
        let key = outcome == .notFound ? Self.unknownCoupon : couponID
        counts.withLock { counts in
            counts[key, default: Array(repeating: 0, count: Outcome.allCases.count)][index] += 1
        }
    }

    /// The counts for one coupon, every outcome present (0 when it never happened).
    public func counts(couponID: Int64) -> [Outcome: Int64] {
        let values = counts.withLock { $0[couponID] } ?? Array(repeating: 0, count: Outcome.allCases.count)
        return Dictionary(uniqueKeysWithValues: zip(Outcome.allCases, values))
    }

    /// Every coupon's counts (``unknownCoupon`` for the ids that do not exist), in id order.
    public func all() -> [(couponID: Int64, counts: [Outcome: Int64])] {
        counts.withLock { $0 }.sorted { $0.key < $1.key }.map { entry in
            (entry.key, Dictionary(uniqueKeysWithValues: zip(Outcome.allCases, entry.value)))
        }
    }
}

extension IssueCounters.Outcome {
    /// How a request that failed with `error` ended.
    init(_ error: any Error) {
        if error is RateLimited {
            self = .rateLimited
            return
        }
        self = switch (error as? CommerceError)?.code {
        case .couponSoldOut?: .soldOut
        case .couponAlreadyIssued?: .alreadyIssued
        case .couponNotActive?: .notActive
        case .couponNotFound?: .notFound
        default: .unavailable
        }
    }
}
