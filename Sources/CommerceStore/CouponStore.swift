/// The durable record of coupons and of who was issued them. Redis admits issuances (the coupon
/// gate); this is where each one is kept, what Redis is repaired from, and the last word.
///
/// Driver obligation — **the store is the truth**: no more users ever hold a coupon than its
/// stock, and none holds it twice, whatever any writer asks (a gate batch Redis admitted wrongly,
/// the reconcile job's inserts, a cut of the stock, concurrent processes): enforced in the
/// database itself (a count of holders moved by the same transaction as the rows, and a
/// conditional update or constraint that cannot pass the stock), never by a read in the caller.
public protocol CouponStore: Sendable {
    /// Adds a coupon and returns it with its new id.
    func create(_ coupon: NewCoupon, at now: Int64) async throws -> Coupon

    /// Removes a coupon nobody was issued: the compensation when it could not be published.
    func delete(couponID: Int64) async throws

    /// The coupon with this id, or nil.
    func coupon(_ couponID: Int64) async throws -> Coupon?

    /// Sets the coupon's stock and end of its issue window and moves its `termsVersion` on by
    /// one, if its version is still `current`'s (compare and set: two changes never interleave)
    /// and the new stock is not below its holders. Anything but `.changed` changed nothing.
    func changeTerms(of current: Coupon, stock: Int64, validUntil: Timestamp) async throws -> TermsChangeOutcome

    /// Every coupon's terms, a keyset page at a time (ids above `afterID`).
    func page(afterID: Int64, limit: Int) async throws -> [Coupon]

    /// The first `limit` coupons (by id) whose issue window holds `now` (ms since the epoch, both
    /// ends inclusive): one query, however many coupons have come and gone.
    func active(at now: Int64, limit: Int) async throws -> [Coupon]

    /// Records a batch of issuances of one coupon, each on its own: one result per issuance, in
    /// order. New holders are taken in the batch's order up to the stock left; the rest are
    /// `COUPON_SOLD_OUT` (Redis admitted more than the store allows). A row that exists already
    /// with the same issue time is success (the reconcile job may have recorded it first); with
    /// another time, `COUPON_ALREADY_ISSUED`; no such coupon, `COUPON_NOT_FOUND`. A failure of
    /// one issuance never undoes another; a ``StoreError`` thrown for the whole call means none
    /// was recorded.
    func recordIssues(couponID: Int64, _ issuances: [Issuance]) async throws -> [Result<Void, any Error>]

    /// Every coupon the user was issued, most recently issued first.
    func held(userID: Int64) async throws -> [HeldCoupon]

    /// How many users hold the coupon.
    func issuedCount(couponID: Int64) async throws -> Int64

    /// Up to `limit` issuances of the coupon with user ids above `afterUser`, by user id: one
    /// keyset page.
    func issuances(couponID: Int64, afterUser: Int64, limit: Int) async throws -> [Issuance]

    /// Gives every issuance that `next` hands over (batches in any order, possibly with repeats,
    /// nil when done) a row, unless the user already holds the coupon, the issuance is a pending
    /// give-back (its client was told nothing was issued), or the stock is used up (then it is
    /// left out, and the caller takes it out of Redis); returns how many rows were
    /// added (with `dryRun`: would be, and nothing changes). Memory stays flat however many
    /// issuances come: the reconcile job feeds it a whole Redis hash. `checked` hears how many
    /// were compared so far.
    func recordMissingIssuances(
        couponID: Int64, dryRun: Bool, next: @Sendable () async throws -> [Issuance]?,
        checked: @Sendable (Int) async throws -> Void
    ) async throws -> Int64

    /// Records that these issuances were answered "nothing was issued" while Redis may still hold
    /// them (a reply lost, a connection cut after the script was sent): until
    /// ``finishGiveBack(couponID:_:)``, no writer turns one into a row, in any process.
    func recordGiveBacks(couponID: Int64, _ issuances: [Issuance], at now: Int64) async throws

    /// The give-back is done in Redis: forgets it, and removes a row the issuance got before it
    /// was recorded (one not used in an order).
    func finishGiveBack(couponID: Int64, _ issuance: Issuance) async throws

    /// The coupon's pending give-backs, at most `limit`.
    func pendingGiveBacks(couponID: Int64, limit: Int) async throws -> [Issuance]

    /// Of these users, those holding the coupon, with their issue times.
    func holders(couponID: Int64, among users: [Int64]) async throws -> [Int64: Int64]
}

/// What ``CouponStore/changeTerms(of:stock:validUntil:)`` did.
public enum TermsChangeOutcome: Sendable, Hashable {
    /// Changed: the coupon as it is now, with its new `termsVersion`.
    case changed(Coupon)
    /// Not changed: the terms changed meanwhile (another version), or the coupon is gone.
    case changedMeanwhile
    /// Not changed: more users hold the coupon than the new stock.
    case belowIssued(issued: Int64)
}
