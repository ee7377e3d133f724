/// The durable record of coupons and of who was issued them. Redis decides issuances (the coupon
/// gate); this is where each one is kept, and what Redis is repaired from.
public protocol CouponStore: Sendable {
    /// Adds a coupon and returns it with its new id.
    func create(_ coupon: NewCoupon, at now: Int64) async throws -> Coupon

    /// Removes a coupon nobody was issued: the compensation when it could not be published.
    func delete(couponID: Int64) async throws

    /// The coupon with this id, or nil.
    func coupon(_ couponID: Int64) async throws -> Coupon?

    /// Sets the coupon's stock and end of its issue window, if its terms are still `current`'s
    /// (compare and set: two changes never interleave); false when they were not (changed
    /// meanwhile, or the coupon is gone), and then nothing changed.
    func changeTerms(of current: Coupon, stock: Int64, validUntil: Timestamp) async throws -> Bool

    /// Every coupon's terms, a keyset page at a time (ids above `afterID`).
    func page(afterID: Int64, limit: Int) async throws -> [Coupon]

    /// The first `limit` coupons (by id) whose issue window holds `now` (ms since the epoch, both
    /// ends inclusive): one query, however many coupons have come and gone.
    func active(at now: Int64, limit: Int) async throws -> [Coupon]

    /// Records a batch of issuances of one coupon, each on its own: one result per issuance, in
    /// order. A row that exists already with the same issue time is success (the reconcile job
    /// may have recorded it first); with another time, `COUPON_ALREADY_ISSUED`; no such coupon,
    /// `COUPON_NOT_FOUND`. A failure of one issuance never undoes another; a ``StoreError``
    /// thrown for the whole call means none was recorded.
    func recordIssues(couponID: Int64, _ issuances: [Issuance]) async throws -> [Result<Void, any Error>]

    /// Every coupon the user was issued, most recently issued first.
    func held(userID: Int64) async throws -> [HeldCoupon]

    /// How many users hold the coupon.
    func issuedCount(couponID: Int64) async throws -> Int64

    /// Up to `limit` issuances of the coupon with user ids above `afterUser`, by user id: one
    /// keyset page.
    func issuances(couponID: Int64, afterUser: Int64, limit: Int) async throws -> [Issuance]

    /// Gives every issuance that `next` hands over (batches in any order, possibly with repeats,
    /// nil when done) a row, unless the user already holds the coupon; returns how many rows were
    /// added (with `dryRun`: would be, and nothing changes). Memory stays flat however many
    /// issuances come: the reconcile job feeds it a whole Redis hash. `checked` hears how many
    /// were compared so far.
    func recordMissingIssuances(
        couponID: Int64, dryRun: Bool, next: @Sendable () async throws -> [Issuance]?,
        checked: @Sendable (Int) async throws -> Void
    ) async throws -> Int64
}
