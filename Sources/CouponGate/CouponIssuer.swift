import CommerceStore
import Logging
import RedisClient
import ServiceLifecycle
import ServiceTasks
import Synchronization

/// First-come coupon issuance. Redis decides (one script checks the issue window, the duplicate
/// and the remaining stock, atomically), the store records (a batch per call), and a decision
/// that could not be recorded is given back to Redis so the stock is not lost.
///
/// Concurrent requests for the same coupon are decided and recorded together, the way the
/// group-commit writer commits them: while one batch is with Redis and the store, the next one
/// gathers, then goes out as one script call and one write. Each request still gets its own
/// answer, in arrival order; a burst costs a few round trips per batch instead of per request
/// (docs/architecture.md has the measurements).
///
/// As a `Service` it runs each coupon's batch loop and retries give-backs that Redis could not
/// take at the time.
public final class CouponIssuer: Service, Sendable {
    /// How this process's issue requests ended, per coupon.
    public let counters = IssueCounters()
    private let script: CouponIssueScript
    private let store: any CouponStore
    private let logger: Logger
    private let soldOut: SoldOutFlags
    private let limiter: IssueRateLimiter
    private let giveBacks: GiveBackQueue
    private let queues = Mutex<[Int64: CouponQueue]>([:])
    private let nextRequestID = Atomic<UInt64>(0)
    /// Each coupon's batch loop runs here, owned by ``run()``.
    private let batchLoops = ServiceTasks()
    private let retryInterval: Duration

    /// - Parameters:
    ///   - limits: the rate limits of issue requests (per user, per client address).
    ///   - soldOutFlagLifetime: how long a sold-out coupon is refused without asking Redis.
    ///   - retryInterval: how often give-backs that failed are tried again.
    public init(
        redis: RedisClient, store: any CouponStore, logger: Logger, limits: IssueRateLimits = .off,
        soldOutFlagLifetime: Duration = .seconds(1), retryInterval: Duration = .milliseconds(250)
    ) {
        let soldOut = SoldOutFlags(lifetime: soldOutFlagLifetime)
        self.script = CouponIssueScript(redis: redis)
        self.limiter = IssueRateLimiter(redis: redis, limits: limits)
        self.store = store
        self.logger = logger
        self.soldOut = soldOut
        self.giveBacks = GiveBackQueue(redis: redis, logger: logger, stockReturned: { soldOut.clear($0) })
        self.retryInterval = retryInterval
    }

    /// Issues the coupon to the user at `now` and returns the durable issuance. `address` is the
    /// client's, for the per-address rate limit.
    ///
    /// Refusals are ``CommerceError``s: `COUPON_NOT_FOUND`, `COUPON_NOT_ACTIVE`,
    /// `COUPON_ALREADY_ISSUED`, `COUPON_SOLD_OUT`; over a rate limit: ``RateLimited``. Redis
    /// unreachable: a ``RedisError`` (``RedisError/isUnavailable``); not recorded in the store:
    /// ``IssueUnavailable``. In every case but the 201 nothing stays issued.
    public func issue(userID: Int64, couponID: Int64, address: String = "", at now: Int64) async throws -> IssuedCoupon {
        // A sold-out answer costs no Redis call, so it comes before the rate limit's.
        try refuseIfSoldOut(couponID: couponID)
        let id = nextRequestID.wrappingAdd(1, ordering: .relaxed).oldValue
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let request = Request(id: id, userID: userID, address: address, issuedAt: now, continuation: continuation)
                let startsBatch = queues.withLock { queues in
                    queues[couponID, default: CouponQueue()].waiting.append(request)
                    defer { queues[couponID]!.isRunning = true }
                    return !queues[couponID]!.isRunning
                }
                if startsBatch && !batchLoops.submit({ await self.runBatches(couponID: couponID) }) {
                    refuseQueued(couponID: couponID)
                }
            }
        } onCancel: {
            withdraw(id, couponID: couponID)
        }
    }

    /// A cancelled caller's request leaves the queue if no batch took it yet (nothing was
    /// decided, so nothing needs undoing); once taken, its decision is answered as usual.
    private func withdraw(_ id: UInt64, couponID: Int64) {
        let request = queues.withLock { queues -> Request? in
            guard let index = queues[couponID]?.waiting.firstIndex(where: { $0.id == id }) else { return nil }
            return queues[couponID]!.waiting.remove(at: index)
        }
        request?.continuation.resume(throwing: CancellationError())
    }

    /// The gate has stopped (shutdown): the coupon's queued requests are answered that nothing
    /// was issued.
    private func refuseQueued(couponID: Int64) {
        let waiting = queues.withLock { $0.removeValue(forKey: couponID)?.waiting ?? [] }
        for request in waiting {
            finish(request, couponID: couponID, .failure(IssueUnavailable(message: "the service is shutting down; nothing was issued")))
        }
    }

    /// Throws `COUPON_SOLD_OUT` when the coupon was seen sold out in the last moment (the
    /// sold-out flag), without asking Redis; ``issue(userID:couponID:address:at:)`` starts with
    /// it, so the burst after a sell-out costs nothing in Redis.
    private func refuseIfSoldOut(couponID: Int64) throws {
        guard soldOut.isFlagged(couponID) else { return }
        counters.record(.soldOut, couponID: couponID)
        throw CommerceError.couponSoldOut(couponID)
    }

    // MARK: Batches

    /// One waiting issue request.
    private struct Request: Sendable {
        /// Tells a request from the others of its coupon's queue (for a cancelled caller).
        let id: UInt64
        let userID: Int64
        let address: String
        let issuedAt: Int64
        let continuation: CheckedContinuation<IssuedCoupon, any Error>

        var issuance: Issuance { Issuance(userID: userID, issuedAt: issuedAt) }

        func giveBack(_ couponID: Int64) -> GiveBackQueue.GiveBack {
            .init(couponID: couponID, userID: userID, issuedAt: issuedAt)
        }
    }

    /// Requests per script call: a script holds Redis for its whole run, so one call must stay
    /// short (256 requests take Redis well under a millisecond).
    private static let maxBatch = 256

    private struct CouponQueue: Sendable {
        var waiting: [Request] = []
        /// A task is taking batches of this coupon; new requests only join the queue.
        var isRunning = false
    }

    /// Decides this coupon's queued requests with Redis, a batch at a time, until none wait.
    /// Recording a batch in SQLite overlaps with deciding the next one: the two stages take
    /// turns with different resources, so a burst moves at the pace of the slower one.
    private func runBatches(couponID: Int64) async {
        await withTaskGroup(of: Void.self) { recordings in
            while true {
                let batch = queues.withLock { queues -> [Request] in
                    let waiting = queues[couponID]?.waiting ?? []
                    if waiting.isEmpty {
                        queues[couponID] = nil
                    } else {
                        queues[couponID]!.waiting.removeFirst(min(waiting.count, Self.maxBatch))
                    }
                    return Array(waiting.prefix(Self.maxBatch))
                }
                guard !batch.isEmpty else { return }
                let issued = await decide(batch, couponID: couponID)
                if !issued.isEmpty {
                    recordings.addTask { await self.record(issued, couponID: couponID) }
                }
            }
        }
    }

    /// Runs the batch through the rate limit, then the rest through the issue script; answers
    /// every refused request and returns the issued ones, still to be recorded.
    ///
    /// Two scripts, not one: the rate-limit buckets and the coupon live in different Redis
    /// Cluster slots, and a script may only touch one.
    private func decide(_ batch: [Request], couponID: Int64) async -> [Request] {
        let batch = await admitted(batch, couponID: couponID)
        guard !batch.isEmpty else { return [] }
        let statuses: [CouponIssueStatus]
        do {
            let decided = try await script.run(couponID: couponID, batch.map(\.issuance))
            statuses = decided.statuses
            // No stock left, for a coupon Redis knows (an unknown one also reports 0).
            if decided.remaining <= 0 && statuses.first != .unknownCoupon { soldOut.flag(couponID) }
        } catch {
            // Unless the connection was refused, the script may have run with its reply lost
            // (timeout, dropped connection): undo it once Redis answers, since every client of
            // the batch is told nothing was issued.
            if (error as? RedisError)?.code != .connectionFailed {
                for request in batch { giveBacks.remember(request.giveBack(couponID), error: error) }
            }
            for request in batch { finish(request, couponID: couponID, .failure(error)) }
            return []
        }
        var issued: [Request] = []
        var unknown: (any Error)?  // looked up once per batch
        for (request, status) in zip(batch, statuses) {
            switch status {
            case .issued: issued.append(request)
            case .unknownCoupon:
                if unknown == nil { unknown = await unknownCoupon(couponID) }
                finish(request, couponID: couponID, .failure(unknown!))
            case .outsideWindow:
                finish(request, couponID: couponID, .failure(CommerceError(.couponNotActive, "coupon \(couponID) is outside its issue window")))
            case .alreadyIssued:
                finish(request, couponID: couponID, .failure(CommerceError(.couponAlreadyIssued, "user \(request.userID) already has coupon \(couponID)")))
            case .soldOut: finish(request, couponID: couponID, .failure(CommerceError.couponSoldOut(couponID)))
            }
        }
        return issued
    }

    /// The batch's requests that are within their rate limits; the others are answered
    /// ``RateLimited`` (or, when Redis cannot say, with its error: nothing was issued).
    private func admitted(_ batch: [Request], couponID: Int64) async -> [Request] {
        let waits: [Duration?]
        do {
            waits = try await limiter.admit(batch.map { (userID: $0.userID, address: $0.address) })
        } catch {
            for request in batch { finish(request, couponID: couponID, .failure(error)) }
            return []
        }
        var admitted: [Request] = []
        admitted.reserveCapacity(batch.count)
        for (request, wait) in zip(batch, waits) {
            if let wait {
                finish(request, couponID: couponID, .failure(RateLimited(retryAfter: wait)))
            } else {
                admitted.append(request)
            }
        }
        return admitted
    }

    /// Records the batch's issuances in one store call; one that cannot be recorded is given
    /// back to Redis and its client told so.
    private func record(_ issued: [Request], couponID: Int64) async {
        let results: [Result<Void, any Error>]
        do {
            results = try await store.recordIssues(couponID: couponID, issued.map(\.issuance))
        } catch {
            results = Array(repeating: .failure(error), count: issued.count)
        }
        for (request, result) in zip(issued, results) {
            switch result {
            case .success:
                finish(request, couponID: couponID, .success(IssuedCoupon(
                    userID: request.userID, couponID: couponID, issuedAt: Timestamp(milliseconds: request.issuedAt))))
            case .failure(let error):
                await giveBacks.giveBack(request.giveBack(couponID))
                if let refusal = error as? CommerceError {
                    // Redis had lost this user's entry, or the coupon is gone from the store: say so.
                    finish(request, couponID: couponID, .failure(refusal))
                } else {
                    logger.error("coupon issuance not recorded in the store; given back to Redis",
                                 metadata: ["coupon_id": "\(couponID)", "user_id": "\(request.userID)", "error": "\(error)"])
                    finish(request, couponID: couponID, .failure(IssueUnavailable(
                        message: "the issuance could not be recorded; nothing was issued, try again shortly")))
                }
            }
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

    /// Answers one request and counts how it ended.
    private func finish(_ request: Request, couponID: Int64, _ result: Result<IssuedCoupon, any Error>) {
        switch result {
        case .success(let issued):
            counters.record(.issued, couponID: couponID)
            request.continuation.resume(returning: issued)
        case .failure(let error):
            counters.record(IssueCounters.Outcome(error), couponID: couponID)
            request.continuation.resume(throwing: error)
        }
    }

    // MARK: Give-backs

    /// Give-backs still waiting for Redis (each is a user told 503 whose Redis entry may still
    /// hold stock).
    public var pendingGiveBackCount: Int { giveBacks.count }

    /// Runs each coupon's batch loop and retries the give-backs Redis could not take, until
    /// shutdown; then lets the running batches finish and retries their give-backs once more.
    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.batchLoops.run() }
            await repeatUntilShutdown(every: retryInterval) { await giveBacks.retry() }
        }
        await giveBacks.retry()
        let left = giveBacks.count
        if left > 0 {
            logger.error("stopping with coupon give-backs Redis never took; the reconcile job will record them as issued",
                         metadata: ["count": "\(left)"])
        }
    }
}
