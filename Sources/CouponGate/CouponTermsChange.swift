import CommerceStore
import Logging
import RedisClient

/// An admin's change of a live coupon's stock or issue window (a restock, a cut): in the store,
/// which is the durable truth, and in Redis, which decides issuances and applies the change
/// atomically with them.
///
/// The store is changed first (compare and set on the terms it had), then Redis, which alone can
/// say whether the new stock is below the users issued at that instant; when it refuses or
/// cannot be reached, the store is set back. So a refused or failed change leaves nothing
/// changed, and a store the set-back could not reach keeps terms that the reconcile job then
/// copies to Redis — never more issued than the store's stock allows.
struct CouponTermsChange: Sendable {
    let store: any CouponStore
    let registry: CouponRegistry
    let logger: Logger

    /// Compare-and-set rounds before two concurrent changes of one coupon give up.
    private static let attempts = 3

    /// Sets the stock and/or `valid_until` (nil: unchanged); returns the coupon as it is now with
    /// Redis's live counts. Throws `COUPON_NOT_FOUND`, `COUPON_STOCK_BELOW_ISSUED`,
    /// ``CouponTermsInvalid`` (the window would end before it starts), or an unavailable error
    /// (nothing changed).
    func apply(couponID: Int64, stock: Int64?, validUntil: Timestamp?) async throws -> CouponTermsChanged {
        for _ in 0..<Self.attempts {
            guard let current = try await store.coupon(couponID) else { throw CommerceError.couponNotFound(couponID) }
            var changed = current
            changed.stock = stock ?? current.stock
            changed.validUntil = validUntil ?? current.validUntil
            guard changed.validUntil > changed.validFrom else {
                throw CouponTermsInvalid(message: "`valid_until`: must be after `valid_from` (\(changed.validFrom))")
            }
            guard try await store.changeTerms(of: current, stock: changed.stock, validUntil: changed.validUntil) else {
                continue  // changed meanwhile: decide again from what it is now
            }
            let outcome: CouponRegistry.TermsChange
            do {
                outcome = try await registry.changeTerms(CouponTerms(changed))
            } catch {
                await setBack(changed, to: current)
                // Being repaired: the issued set may be short, so the stock cannot be checked yet.
                if (error as? RedisError)?.code == .untrustedData { throw IssueFenced() }
                throw error
            }
            switch outcome {
            case .changed(let remaining, let issued):
                try await followLaterChange(of: changed)
                return CouponTermsChanged(coupon: changed, remaining: remaining, issued: issued)
            case .belowIssued(let issued):
                await setBack(changed, to: current)
                throw CommerceError(.couponStockBelowIssued,
                                    "coupon \(couponID) is held by \(issued) users already, more than a stock of \(changed.stock); nothing was changed")
            case .unknownCoupon:
                await setBack(changed, to: current)
                throw IssueUnavailable(message: "coupon \(couponID) is missing from Redis (lost data?) until the reconcile job restores it; nothing was changed")
            }
        }
        throw IssueUnavailable(message: "coupon \(couponID) is being changed by another request; nothing was changed, try again")
    }

    /// Undoes the store's part of a change Redis did not take (only if nothing changed it since).
    private func setBack(_ changed: Coupon, to current: Coupon) async {
        do {
            if try await store.changeTerms(of: changed, stock: current.stock, validUntil: current.validUntil) { return }
        } catch {
            logger.error("a coupon change Redis did not take could not be undone in the store; the reconcile job copies the store's terms to Redis",
                         metadata: ["coupon_id": "\(changed.couponID)", "error": "\(error)"])
        }
    }

    /// Two changes of one coupon at once can reach Redis in the other order than the store:
    /// when the store already holds a later change, Redis is given that one again.
    private func followLaterChange(of changed: Coupon) async throws {
        guard let latest = try await store.coupon(changed.couponID), latest != changed else { return }
        _ = try await registry.changeTerms(CouponTerms(latest))
    }
}

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
