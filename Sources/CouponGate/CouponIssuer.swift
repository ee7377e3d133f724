import CommerceStore
import Logging
import RedisClient
import ServiceLifecycle
import ServiceTasks
import Synchronization

/// First-come coupon issuance. Redis admits (one script checks the issue window, the duplicate
/// and the remaining stock, atomically), the store decides and records (a batch per call, never
/// past the stock, whatever Redis said), and a decision that could not be recorded is given back
/// to Redis so the stock is not lost.
///
/// Concurrent requests for the same coupon are decided and recorded together, the way the
/// group-commit writer commits them: while one batch is with Redis and the store, the next one
/// gathers, then goes out as one script call and one write (``IssueQueue`` says whose task
/// leads it). Each request still gets its own answer, in arrival order; a burst costs a few
/// round trips per batch instead of per request (docs/design-notes.md has the measurements).
///
/// As a `Service` it retries give-backs that Redis could not take at the time.
public final class CouponIssuer: Service, Sendable {
    /// How this process's issue requests ended, per coupon.
    public let counters = IssueCounters()
    private let script: CouponIssueScript
    private let store: any CouponStore
    private let logger: Logger
    private let soldOut: SoldOutFlags
    private let limiter: IssueRateLimiter
    private let giveBacks: GiveBackQueue
    private let termsSync: TermsSync
    private let registry: CouponRegistry
    private let queue = IssueQueue()
    /// While it does not trust Redis's data, nothing is issued.
    private let dataGuard: RedisDataGuard?
    private let nextRequestID = Atomic<UInt64>(0)
    private let retryInterval: Duration

    /// - Parameters:
    ///   - limits: the rate limits of issue requests (per user, per client address).
    ///   - soldOutFlagLifetime: how long a sold-out coupon is refused without asking Redis.
    ///   - retryInterval: how often give-backs that failed are tried again.
    public init(
        redis: any RedisClient, store: any CouponStore, logger: Logger, limits: IssueRateLimits = .off,
        dataGuard: RedisDataGuard? = nil, soldOutFlagLifetime: Duration = .seconds(1),
        retryInterval: Duration = .milliseconds(250)
    ) {
        self.dataGuard = dataGuard
        let soldOut = SoldOutFlags(lifetime: soldOutFlagLifetime)
        self.script = CouponIssueScript(redis: redis)
        self.registry = CouponRegistry(redis: redis)
        self.limiter = IssueRateLimiter(redis: redis, limits: limits)
        self.store = store
        self.logger = logger
        self.soldOut = soldOut
        self.giveBacks = GiveBackQueue(redis: redis, store: store, logger: logger, stockReturned: { soldOut.clear($0) })
        self.termsSync = TermsSync(store: store, registry: registry, logger: logger)
        self.retryInterval = retryInterval
    }

    /// Issues the coupon to the user at `now` and returns the durable issuance. `address` is the
    /// client's, for the per-address rate limit (asked for only when a request goes on to Redis:
    /// a refusal from memory needs none).
    ///
    /// Refusals are ``CommerceError``s: `COUPON_NOT_FOUND`, `COUPON_NOT_ACTIVE`,
    /// `COUPON_ALREADY_ISSUED`, `COUPON_SOLD_OUT`; over a rate limit: ``RateLimited``. Redis
    /// unreachable: a ``RedisError`` (``RedisError/isUnavailable``); not recorded in the store:
    /// ``IssueUnavailable``; Redis's data not trusted (being repaired): ``IssueFenced``. In every
    /// case but the 201 nothing stays issued.
    public func issue(userID: Int64, couponID: Int64, address: @autoclosure () -> String = "", at now: Int64) async throws -> IssuedCoupon {
        // What the batch's script call (`requiringTrustedData`) would answer, without queueing
        // behind a batch first: the fence holds on the command either way.
        if let dataGuard, !dataGuard.isTrusted {
            counters.record(.unavailable, couponID: couponID)
            throw IssueFenced()
        }
        // A sold-out answer costs no Redis call, so it comes before the rate limit's.
        try refuseIfSoldOut(couponID: couponID, userID: userID)
        let request = IssueRequest(id: nextRequestID.wrappingAdd(1, ordering: .relaxed).oldValue,
                                   userID: userID, address: address(), issuedAt: now)
        switch await queue.wait(request, couponID: couponID) {
        case .answered(let result): return try result.get()
        case .lead: return try await lead(request, couponID: couponID).get()
        }
    }

    /// Answers from the sold-out flag, without asking Redis: `COUPON_ALREADY_ISSUED` for a
    /// holder, `COUPON_SOLD_OUT` for anyone else, while the coupon was seen sold out in the last
    /// moment and its holders are known; ``issue(userID:couponID:address:at:)`` starts with it,
    /// so the burst after a sell-out costs nothing in Redis.
    private func refuseIfSoldOut(couponID: Int64, userID: Int64) throws {
        switch soldOut.answer(couponID: couponID, userID: userID) {
        case .unknown:
            return
        case .soldOut:
            counters.record(.soldOut, couponID: couponID)
            throw CommerceError.couponSoldOut(couponID)
        case .alreadyIssued:
            counters.record(.alreadyIssued, couponID: couponID)
            throw CommerceError.alreadyIssued(userID: userID, couponID: couponID)
        }
    }

    /// Reads a newly flagged coupon's holders for the flag (one `HLEN`, then one `HKEYS` if they
    /// are few enough to keep); until then its requests are decided by Redis.
    private func readHolders(of couponID: Int64) async {
        guard let holders = try? await registry.holders(couponID: couponID, atMost: SoldOutFlags.maxHolders) else { return }
        soldOut.remember(holders: holders, of: couponID)
    }

    /// Changes a coupon's stock and/or `valid_until` (nil: unchanged) in the store and in Redis,
    /// atomically with issuing (see ``CouponTermsChange``); this process's sold-out memory of the
    /// coupon is dropped at once, other processes' within their flag's lifetime.
    public func changeTerms(couponID: Int64, stock: Int64?, validUntil: Timestamp?) async throws -> CouponTermsChanged {
        defer { soldOut.clear(couponID) }
        return try await CouponTermsChange(store: store, registry: registry, sync: termsSync, logger: logger)
            .apply(couponID: couponID, stock: stock, validUntil: validUntil)
    }

    // MARK: Batches

    /// Requests per script call: a script holds Redis for its whole run, so one call must stay
    /// short (256 requests take Redis well under a millisecond).
    private static let maxBatch = 256

    /// Leads one batch: `own` and the oldest waiting requests are decided by Redis; then the
    /// turn passes on (the next batch is decided while this one is recorded), refusals are
    /// answered, the issued ones recorded and answered. Returns `own`'s answer.
    private func lead(_ own: IssueRequest, couponID: Int64) async -> Result<IssuedCoupon, any Error> {
        let others = queue.take(couponID: couponID, upTo: Self.maxBatch - 1)
        var ownResult: Result<IssuedCoupon, any Error>?
        let waiters = Dictionary(uniqueKeysWithValues: others.map { ($0.request.id, $0) })
        func answer(_ request: IssueRequest, _ result: Result<IssuedCoupon, any Error>) {
            switch result {
            case .success: counters.record(.issued, couponID: couponID)
            case .failure(let error): counters.record(IssueCounters.Outcome(error), couponID: couponID)
            }
            if let waiter = waiters[request.id] { waiter.answer(result) } else { ownResult = result }
        }

        let decided = await decide([own] + others.map(\.request), couponID: couponID)
        queue.passTurn(couponID: couponID)
        for (request, error) in decided.refused { answer(request, .failure(error)) }
        for (request, result) in await record(decided.issued, couponID: couponID) { answer(request, result) }
        if decided.holdersWanted { await readHolders(of: couponID) }
        return ownResult!
    }

    /// Runs the batch through the rate limit, then the rest through the issue script: the
    /// issued requests (still to be recorded) and the refused ones with why.
    ///
    /// On one Redis server both are one script call (`coupon-issue-limited.lua`). On a cluster
    /// they are two: the rate-limit buckets and the coupon live in different slots, and a script
    /// may only touch one.
    private func decide(_ batch: [IssueRequest], couponID: Int64) async -> Decided {
        var admitted = batch
        var refused: [(IssueRequest, any Error)] = []
        let decision: CouponIssueScript.Decision
        do {
            if let limit = limiter.oneCallArguments(batch.map(\.client)) {
                let reply = try await script.run(couponID: couponID, batch.map(\.issuance), limit: limit)
                (admitted, refused) = Self.split(batch, waits: reply.waits)
                decision = reply.decided
            } else {
                (admitted, refused) = await self.admitted(batch)
                guard !admitted.isEmpty else { return Decided(issued: [], refused: refused) }
                decision = try await script.run(couponID: couponID, admitted.map(\.issuance))
            }
        } catch let error as RedisError where error.code == .untrustedData {
            // Redis restarted or lost data since the last batch: not sent; fenced until repaired.
            return Decided(issued: [], refused: refused + admitted.map { ($0, IssueFenced()) })
        } catch {
            // Unless the connection was refused, the script may have run with its reply lost
            // (timeout, dropped connection): undo it once Redis answers, since every client of
            // the batch is told nothing was issued (a give-back of a request that was not issued
            // changes nothing). Recorded in the store before anyone is answered, so no reconcile
            // in any process turns one into a row meanwhile.
            if (error as? RedisError)?.code != .connectionFailed {
                await giveBacks.remember(admitted.map { $0.giveBack(couponID) }, error: error)
            }
            return Decided(issued: [], refused: refused + admitted.map { ($0, error) })
        }
        guard !admitted.isEmpty else { return Decided(issued: [], refused: refused) }
        // No stock left, for a coupon Redis knows (an unknown one also reports 0).
        let holdersWanted = decision.remaining <= 0 && decision.statuses.first != .unknownCoupon && soldOut.flag(couponID)
        var issued: [IssueRequest] = []
        var unknown: (any Error)?  // looked up once per batch
        for (request, status) in zip(admitted, decision.statuses) {
            switch status {
            case .issued: issued.append(request)
            case .unknownCoupon:
                if unknown == nil { unknown = await unknownCoupon(couponID) }
                refused.append((request, unknown!))
            case .outsideWindow:
                refused.append((request, CommerceError(.couponNotActive, "coupon \(couponID) is outside its issue window")))
            case .alreadyIssued:
                refused.append((request, CommerceError.alreadyIssued(userID: request.userID, couponID: couponID)))
            case .soldOut: refused.append((request, CommerceError.couponSoldOut(couponID)))
            }
        }
        return Decided(issued: issued, refused: refused, holdersWanted: holdersWanted)
    }

    /// A decided batch: the issued requests (still to be recorded), the refused ones with why,
    /// and whether the coupon was just flagged sold out with its holders still to be read.
    private struct Decided {
        var issued: [IssueRequest]
        var refused: [(IssueRequest, any Error)]
        var holdersWanted = false
    }

    /// The batch's requests that are within their rate limits, and the others refused
    /// ``RateLimited`` (or, when Redis cannot say, with its error: nothing was issued).
    private func admitted(_ batch: [IssueRequest]) async -> (admitted: [IssueRequest], refused: [(IssueRequest, any Error)]) {
        do {
            return Self.split(batch, waits: try await limiter.admit(batch.map(\.client)))
        } catch {
            return ([], batch.map { ($0, error) })
        }
    }

    /// The requests the rate limit let through (no wait), and the others refused ``RateLimited``.
    private static func split(_ batch: [IssueRequest], waits: [Duration?]) -> (admitted: [IssueRequest], refused: [(IssueRequest, any Error)]) {
        var admitted: [IssueRequest] = []
        var refused: [(IssueRequest, any Error)] = []
        admitted.reserveCapacity(batch.count)
        for (request, wait) in zip(batch, waits) {
            if let wait { refused.append((request, RateLimited(retryAfter: wait))) } else { admitted.append(request) }
        }
        return (admitted, refused)
    }

    /// Records the batch's issuances in one store call; one that cannot be recorded is given
    /// back to Redis and its client told so. One the store refused for want of stock (Redis
    /// admitted more than the store allows: a lost or late reply, lost data) is
    /// `COUPON_SOLD_OUT` and is taken out of Redis without giving stock back.
    private func record(_ issued: [IssueRequest], couponID: Int64) async -> [(IssueRequest, Result<IssuedCoupon, any Error>)] {
        guard !issued.isEmpty else { return [] }
        let results: [Result<Void, any Error>]
        do {
            results = try await store.recordIssues(couponID: couponID, issued.map(\.issuance))
        } catch {
            results = Array(repeating: .failure(error), count: issued.count)
        }
        var answers: [(IssueRequest, Result<IssuedCoupon, any Error>)] = []
        answers.reserveCapacity(issued.count)
        var refusedByStore: [Issuance] = []
        var unrecorded: [GiveBackQueue.GiveBack] = []
        var unrecordedError: (any Error)?
        for (request, result) in zip(issued, results) {
            switch result {
            case .success:
                answers.append((request, .success(IssuedCoupon(
                    userID: request.userID, couponID: couponID, issuedAt: Timestamp(milliseconds: request.issuedAt)))))
            case .failure(let refusal as CommerceError) where refusal.code == .couponSoldOut:
                refusedByStore.append(request.issuance)
                answers.append((request, .failure(refusal)))
            case .failure(let refusal as CommerceError):
                // Redis had lost this user's entry, or the coupon is gone from the store: say so.
                await giveBacks.giveBack(request.giveBack(couponID))
                answers.append((request, .failure(refusal)))
            case .failure(let error):
                unrecorded.append(request.giveBack(couponID))
                unrecordedError = error
                logger.error("coupon issuance not recorded in the store; given back to Redis",
                             metadata: ["coupon_id": "\(couponID)", "user_id": "\(request.userID)", "error": "\(error)"])
                answers.append((request, .failure(IssueUnavailable(
                    message: "the issuance could not be recorded; nothing was issued, try again shortly"))))
            }
        }
        // A store that failed may still have committed (PostgreSQL's answer to a commit lost
        // with its connection): undone in Redis now, and finished in the store once it answers,
        // which removes such a row, so the clients told 503 hold nothing.
        if let unrecordedError { await giveBacks.undoUnrecorded(unrecorded, error: unrecordedError) }
        if !refusedByStore.isEmpty { await takeBack(refusedByStore, couponID: couponID) }
        return answers
    }

    /// Takes issuances the store refused out of Redis. If Redis cannot take them now, they stay
    /// there without rows, which the reconcile job takes out (the store refuses them again).
    private func takeBack(_ issuances: [Issuance], couponID: Int64) async {
        logger.warning("Redis admitted more than the store's stock allows; refused as sold out and taken back",
                       metadata: ["coupon_id": "\(couponID)", "count": "\(issuances.count)"])
        do {
            try await registry.takeBack(couponID: couponID, issuances)
        } catch {
            logger.error("issuances the store refused could not be taken out of Redis; the reconcile job will",
                         metadata: ["coupon_id": "\(couponID)", "count": "\(issuances.count)", "error": "\(error)"])
        }
    }

    /// Redis does not know the coupon: 404 if the store does not either, else 503 (Redis lost it).
    private func unknownCoupon(_ couponID: Int64) async -> any Error {
        do {
            guard try await store.coupon(couponID) != nil else {
                return CommerceError.couponNotFound(couponID)
            }
        } catch {
            return error
        }
        logger.warning("coupon is in the store but not in Redis (Redis lost data?); the reconcile job restores it",
                       metadata: ["coupon_id": "\(couponID)"])
        return IssueUnavailable(message: "coupon \(couponID) cannot be issued until Redis is repaired; nothing was issued")
    }

    // MARK: Give-backs

    /// Give-backs still waiting for Redis (each is a user told 503 whose Redis entry may still
    /// hold stock).
    public var pendingGiveBackCount: Int { giveBacks.count }

    /// Coupons whose terms Redis must still be given from the store (a change whose reply was
    /// lost and that was set back).
    public var pendingTermsSyncCount: Int { termsSync.count }

    /// Retries the give-backs Redis could not take, until shutdown (by then the HTTP server has
    /// drained its requests, and with them every batch).
    public func run() async throws {
        await repeatUntilShutdown(every: retryInterval) {
            await giveBacks.retry()
            await termsSync.retry()
        }
        let left = giveBacks.count
        if left > 0 {
            logger.error("stopping with coupon give-backs Redis never took; the reconcile job will record them as issued",
                         metadata: ["count": "\(left)"])
        }
    }
}
