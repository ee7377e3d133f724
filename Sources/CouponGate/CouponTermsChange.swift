import CommerceStore
import Logging
import RedisClient

/// An admin's change of a live coupon's stock or issue window (a restock, a cut): decided by the
/// store, which is the truth, then given to Redis, which applies it atomically with issuing.
///
/// The store changes first (compare and set on the coupon's `termsVersion`, refusing a stock
/// below its holders) and the new version goes to Redis, which takes only versions above the one
/// it holds: two concurrent changes end in the store's order in both places, and a change that
/// reaches Redis late or twice changes nothing. A reply that does not come (a timeout, a cut
/// connection) means "may have run": the change is sent again until Redis answers, for a
/// moment; if it still does not, the store is set back (as a new version) and ``TermsSync``
/// keeps giving Redis the store's terms until it takes them, so a 503 changed nothing once the
/// service has converged, and a 200 holds in both.
struct CouponTermsChange: Sendable {
    let store: any CouponStore
    let registry: CouponRegistry
    let sync: TermsSync
    let logger: Logger

    /// Compare-and-set rounds before two concurrent changes of one coupon give up.
    private static let attempts = 3
    /// How long a change is sent again while Redis does not answer before it is undone.
    private static let patience: Duration = .seconds(2)

    /// Sets the stock and/or `valid_until` (nil: unchanged); returns the coupon as it is now with
    /// Redis's live counts. Throws `COUPON_NOT_FOUND`, `COUPON_STOCK_BELOW_ISSUED`,
    /// ``CouponTermsInvalid`` (the window would end before it starts), or an unavailable error
    /// (nothing changed).
    func apply(couponID: Int64, stock: Int64?, validUntil: Timestamp?) async throws -> CouponTermsChanged {
        for _ in 0..<Self.attempts {
            guard let current = try await store.coupon(couponID) else { throw CommerceError.couponNotFound(couponID) }
            let newStock = stock ?? current.stock
            let newEnd = validUntil ?? current.validUntil
            guard newEnd > current.validFrom else {
                throw CouponTermsInvalid(message: "`valid_until`: must be after `valid_from` (\(current.validFrom))")
            }
            switch try await store.changeTerms(of: current, stock: newStock, validUntil: newEnd) {
            case .changedMeanwhile:
                continue  // decide again from what it is now
            case .belowIssued(let issued):
                throw CommerceError(.couponStockBelowIssued,
                                    "coupon \(couponID) is held by \(issued) users already, more than a stock of \(newStock); nothing was changed")
            case .changed(let changed):
                do {
                    let (remaining, issued) = try await giveRedis(changed)
                    return CouponTermsChanged(coupon: changed, remaining: remaining, issued: issued)
                } catch {
                    if let held = await undo(changed, back: current) { return held }
                    if (error as? RedisError)?.code == .untrustedData { throw IssueFenced() }
                    if error is UnknownInRedis {
                        throw IssueUnavailable(message: "coupon \(couponID) is missing from Redis (lost data?) until the reconcile job restores it; nothing was changed")
                    }
                    throw error
                }
            }
        }
        throw IssueUnavailable(message: "coupon \(couponID) is being changed by another request; nothing was changed, try again")
    }

    /// Sends the changed terms until Redis says it holds them (or a later version), for
    /// ``patience`` at most: a send whose reply was lost may have run, and sending it again is
    /// harmless (the version). Redis not knowing the coupon, or not trusted, ends it at once.
    private func giveRedis(_ changed: Coupon) async throws -> (remaining: Int64, issued: Int64) {
        let deadline = ContinuousClock.now + Self.patience
        while true {
            do {
                switch try await registry.changeTerms(CouponTerms(changed)) {
                case .holds(let remaining, let issued): return (remaining, issued)
                case .unknownCoupon: throw UnknownInRedis()
                }
            } catch let error as RedisError where error.code != .untrustedData {
                guard ContinuousClock.now + .milliseconds(100) < deadline else { throw error }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// Sets the store back to `previous`'s terms (a new version) after Redis did not take
    /// `changed`, and has ``TermsSync`` give Redis the store's terms. Returns the change as it
    /// holds when it cannot be undone because issuances were recorded under it (then Redis took
    /// it: only its version let anyone past the old stock).
    private func undo(_ changed: Coupon, back previous: Coupon) async -> CouponTermsChanged? {
        do {
            switch try await store.changeTerms(of: changed, stock: previous.stock, validUntil: previous.validUntil) {
            case .changed, .changedMeanwhile:
                break  // set back, or a later change's version supersedes this one everywhere
            case .belowIssued(let issued):
                logger.notice("a coupon change whose reply Redis lost has issuances under it: it stands",
                              metadata: ["coupon_id": "\(changed.couponID)", "issued": "\(issued)"])
                sync.needed(couponID: changed.couponID)
                return CouponTermsChanged(coupon: changed, remaining: max(0, changed.stock - issued), issued: issued)
            }
        } catch {
            logger.error("a coupon change Redis did not take could not be set back in the store yet; retrying",
                         metadata: ["coupon_id": "\(changed.couponID)", "error": "\(error)"])
            sync.needed(couponID: changed.couponID, settingBack: (changed, previous))
            return nil
        }
        sync.needed(couponID: changed.couponID)
        return nil
    }
}

/// Redis does not know the coupon whose terms were sent.
private struct UnknownInRedis: Error {}

/// A coupon after a change of its terms, with Redis's live counts.
public struct CouponTermsChanged: Sendable {
    public var coupon: Coupon
    public var remaining: Int64
    public var issued: Int64
}

/// A change of terms that would make no sense (the window ending before it starts): nothing changed.
public struct CouponTermsInvalid: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
