import CommerceStore
import Logging
import LuaScripts
import RedisClient
import ServiceLifecycle
import Synchronization

/// The issuance could not be decided or recorded, so nothing was issued; worth retrying later.
public struct IssueUnavailable: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// First-come coupon issuance. Redis decides (one script checks the issue window, the duplicate
/// and the remaining stock, atomically), SQLite records (through the group-commit writer), and a
/// decision that could not be recorded is given back to Redis so the stock is not lost.
///
/// Concurrent requests for the same coupon are decided and recorded together, the way the
/// group-commit writer commits them: while one batch is with Redis and SQLite, the next one
/// gathers, then goes out as one script call and one write. Each request still gets its own
/// answer, in arrival order; a burst costs a few round trips per batch instead of per request
/// (docs/architecture.md has the measurements).
///
/// As a `Service` it retries give-backs that Redis could not take at the time.
public final class CouponIssuer: Service, Sendable {
    /// How this process's issue requests ended, per coupon.
    public let counters = IssueCounters()
    private let redis: RedisClient
    private let database: CommerceDatabase
    private let logger: Logger
    private let soldOut: SoldOutFlags
    private let limiter: IssueRateLimiter
    private let queues = Mutex<[Int64: CouponQueue]>([:])
    private let pendingGiveBacks = Mutex<[GiveBack]>([])
    private let retryInterval: Duration

    /// - Parameters:
    ///   - limits: the rate limits of issue requests (per user, per client address).
    ///   - soldOutFlagLifetime: how long a sold-out coupon is refused without asking Redis.
    ///   - retryInterval: how often give-backs that failed are tried again.
    public init(
        redis: RedisClient, database: CommerceDatabase, logger: Logger, limits: IssueRateLimits = .off,
        soldOutFlagLifetime: Duration = .seconds(1), retryInterval: Duration = .milliseconds(250)
    ) {
        self.redis = redis
        self.limiter = IssueRateLimiter(redis: redis, limits: limits)
        self.database = database
        self.logger = logger
        self.soldOut = SoldOutFlags(lifetime: soldOutFlagLifetime)
        self.retryInterval = retryInterval
    }

    /// Issues the coupon to the user at `now` and returns the durable issuance. `address` is the
    /// client's, for the per-address rate limit.
    ///
    /// Refusals are ``CommerceError``s: `COUPON_NOT_FOUND`, `COUPON_NOT_ACTIVE`,
    /// `COUPON_ALREADY_ISSUED`, `COUPON_SOLD_OUT`; over a rate limit: ``RateLimited``. Redis
    /// unreachable: a ``RedisError`` (``RedisError/isUnavailable``); not recorded in SQLite:
    /// ``IssueUnavailable``. In every case but the 201 nothing stays issued.
    public func issue(userID: Int64, couponID: Int64, address: String = "", at now: Int64) async throws -> IssuedCoupon {
        // A sold-out answer costs no Redis call, so it comes before the rate limit's.
        try refuseIfSoldOut(couponID: couponID)
        return try await withCheckedThrowingContinuation { continuation in
            let request = Request(userID: userID, address: address, issuedAt: now, continuation: continuation)
            let startsBatch = queues.withLock { queues in
                queues[couponID, default: CouponQueue()].waiting.append(request)
                defer { queues[couponID]!.isRunning = true }
                return !queues[couponID]!.isRunning
            }
            if startsBatch {
                Task { await self.runBatches(couponID: couponID) }
            }
        }
    }

    /// Throws `COUPON_SOLD_OUT` when the coupon was seen sold out in the last moment (the
    /// sold-out flag), without asking Redis; ``issue(userID:couponID:address:at:)`` starts with
    /// it, so the burst after a sell-out costs nothing in Redis.
    private func refuseIfSoldOut(couponID: Int64) throws {
        guard soldOut.isFlagged(couponID) else { return }
        counters.record(.soldOut, couponID: couponID)
        throw Self.soldOutRefusal(couponID)
    }

    // MARK: Batches

    /// One waiting issue request.
    private struct Request: Sendable {
        let userID: Int64
        let address: String
        let issuedAt: Int64
        let continuation: CheckedContinuation<IssuedCoupon, any Error>
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
    private func decide(_ batch: [Request], couponID: Int64) async -> [Request] {
        let batch = await admitted(batch, couponID: couponID)
        guard !batch.isEmpty else { return [] }
        let keys = CouponKeys(couponID: couponID)
        var args: [RedisArgument] = []
        args.reserveCapacity(batch.count * 2)
        for request in batch {
            args.append(RedisArgument(request.userID))
            args.append(RedisArgument(request.issuedAt))
        }
        let statuses: [Int64]
        do {
            let reply = try await redis.run(LuaScripts.couponIssue, keys: [
                RedisArgument(keys.meta), RedisArgument(keys.remaining), RedisArgument(keys.issued),
            ], args: args)
            guard let values = reply.array?.compactMap(\.int), values.count == batch.count + 1 else {
                throw RedisError(.protocolError, "coupon-issue returned \(reply)")
            }
            statuses = Array(values.dropFirst())
            // No stock left, for a coupon Redis knows (an unknown one also reports 0).
            if values[0] <= 0 && statuses.first != 1 { soldOut.flag(couponID) }
        } catch {
            // Unless the connection was refused, the script may have run with its reply lost
            // (timeout, dropped connection): undo it once Redis answers, since every client of
            // the batch is told nothing was issued.
            if (error as? RedisError)?.code != .connectionFailed {
                for request in batch { remember(GiveBack(couponID: couponID, request), error: error) }
            }
            for request in batch { finish(request, couponID: couponID, .failure(error)) }
            return []
        }
        var issued: [Request] = []
        var unknown: (any Error)?  // looked up once per batch
        for (request, status) in zip(batch, statuses) {
            switch status {
            case 0: issued.append(request)
            case 1:
                if unknown == nil { unknown = await unknownCoupon(couponID) }
                finish(request, couponID: couponID, .failure(unknown!))
            case 2: finish(request, couponID: couponID, .failure(CommerceError(.couponNotActive, "coupon \(couponID) is outside its issue window")))
            case 3: finish(request, couponID: couponID, .failure(CommerceError(.couponAlreadyIssued, "user \(request.userID) already has coupon \(couponID)")))
            case 4: finish(request, couponID: couponID, .failure(Self.soldOutRefusal(couponID)))
            default: finish(request, couponID: couponID, .failure(RedisError(.protocolError, "coupon-issue returned status \(status)")))
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

    /// Writes the batch's issuances in one group-commit write; one that cannot be written is
    /// given back to Redis and its client told so.
    private func record(_ issued: [Request], couponID: Int64) async {
        let rows = issued.map { (userID: $0.userID, issuedAt: $0.issuedAt) }
        let results: [Result<Void, any Error>]
        do {
            results = try await database.write { db in
                try rows.map { row in
                    // One statement per row: a failing one undoes itself and nothing else,
                    // unless it was an error that ended the whole transaction (then all fail).
                    do {
                        try CouponBook.recordIssue(db, userID: row.userID, couponID: couponID, issuedAt: row.issuedAt)
                        return .success(())
                    } catch where db.isInsideTransaction {
                        return .failure(error)
                    }
                }
            }
        } catch {
            results = Array(repeating: .failure(error), count: issued.count)
        }
        for (request, result) in zip(issued, results) {
            switch result {
            case .success:
                finish(request, couponID: couponID, .success(IssuedCoupon(
                    userID: request.userID, couponID: couponID, issuedAt: Timestamp(milliseconds: request.issuedAt))))
            case .failure(let error):
                await giveBack(GiveBack(couponID: couponID, request))
                if let refusal = error as? CommerceError {
                    // Redis had lost this user's entry, or the coupon is gone from SQLite: say so.
                    finish(request, couponID: couponID, .failure(refusal))
                } else {
                    logger.error("coupon issuance not recorded in SQLite; given back to Redis",
                                 metadata: ["coupon_id": "\(couponID)", "user_id": "\(request.userID)", "error": "\(error)"])
                    finish(request, couponID: couponID, .failure(IssueUnavailable(
                        message: "the issuance could not be recorded; nothing was issued, try again shortly")))
                }
            }
        }
    }

    /// Redis does not know the coupon: 404 if SQLite does not either, else 503 (Redis lost it).
    private func unknownCoupon(_ couponID: Int64) async -> any Error {
        do {
            guard try await database.read({ try CouponBook.find($0, couponID: couponID) }) != nil else {
                return CouponBook.notFound(couponID)
            }
        } catch {
            return error
        }
        logger.warning("coupon is in SQLite but not in Redis (Redis lost data?); the reconcile job restores it",
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
            counters.record(Self.outcome(of: error), couponID: couponID)
            request.continuation.resume(throwing: error)
        }
    }

    // MARK: Give-backs

    /// One issuance to undo: the Redis entry of `userID` with exactly this issue time.
    private struct GiveBack: Sendable, Hashable {
        var couponID: Int64
        var userID: Int64
        var issuedAt: Int64

        init(couponID: Int64, _ request: Request) {
            self.couponID = couponID
            self.userID = request.userID
            self.issuedAt = request.issuedAt
        }
    }

    /// Undoes the issuance now, or, if Redis cannot take it, later (see ``run()``).
    private func giveBack(_ giveBack: GiveBack) async {
        do {
            try await send(giveBack)
        } catch {
            remember(giveBack, error: error)
        }
    }

    /// Give-backs still waiting for Redis (a gauge worth watching: each is a user told 503
    /// whose Redis entry may still hold stock).
    public var pendingGiveBackCount: Int { pendingGiveBacks.withLock { $0.count } }

    public func run() async throws {
        while (try? await cancelWhenGracefulShutdown({ try await Task.sleep(for: self.retryInterval) })) != nil {
            await retryGiveBacks()
        }
        await retryGiveBacks()
        let left = pendingGiveBackCount
        if left > 0 {
            logger.error("stopping with coupon give-backs Redis never took; the reconcile job will record them as issued",
                         metadata: ["count": "\(left)"])
        }
    }

    private func retryGiveBacks() async {
        let due = pendingGiveBacks.withLock { $0 }
        var done: Set<GiveBack> = []
        for giveBack in due {
            guard (try? await send(giveBack)) != nil else { break }  // Redis still away: next round
            done.insert(giveBack)
        }
        guard !done.isEmpty else { return }
        let left = pendingGiveBacks.withLock { pending in
            pending.removeAll { done.contains($0) }
            return pending.count
        }
        logger.notice("coupon give-backs done", metadata: ["count": "\(done.count)", "still_waiting": "\(left)"])
    }

    private func send(_ giveBack: GiveBack) async throws {
        let keys = CouponKeys(couponID: giveBack.couponID)
        let reply = try await redis.run(LuaScripts.couponGiveBack, keys: [RedisArgument(keys.remaining), RedisArgument(keys.issued)],
                                        args: [RedisArgument(giveBack.userID), RedisArgument(giveBack.issuedAt)])
        if reply.int == 1 { soldOut.clear(giveBack.couponID) }
    }

    private func remember(_ giveBack: GiveBack, error: any Error) {
        let isFirst = pendingGiveBacks.withLock { pending in
            pending.append(giveBack)
            return pending.count == 1
        }
        if isFirst {
            logger.warning("coupon give-back waits for Redis", metadata: [
                "coupon_id": "\(giveBack.couponID)", "user_id": "\(giveBack.userID)", "error": "\(error)",
            ])
        }
    }

    // MARK: Outcomes

    private static func soldOutRefusal(_ couponID: Int64) -> CommerceError {
        CommerceError(.couponSoldOut, "coupon \(couponID) is sold out")
    }

    private static func outcome(of error: any Error) -> IssueCounters.Outcome {
        if error is RateLimited { return .rateLimited }
        return switch (error as? CommerceError)?.code {
        case .couponSoldOut?: .soldOut
        case .couponAlreadyIssued?: .alreadyIssued
        case .couponNotActive?: .notActive
        case .couponNotFound?: .notFound
        default: .unavailable
        }
    }
}
