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

/// First-come coupon issuance. Redis decides (one script: issue window, duplicate, remaining
/// stock, all atomically), SQLite records (through the group-commit writer), and a decision that
/// could not be recorded is given back to Redis so the stock is not lost.
///
/// As a `Service` it retries give-backs that Redis could not take at the time.
public final class CouponIssuer: Service, Sendable {
    /// How this process's issue requests ended, per coupon.
    public let counters = IssueCounters()
    private let redis: RedisClient
    private let database: CommerceDatabase
    private let logger: Logger
    private let soldOut: SoldOutFlags
    private let pendingGiveBacks = Mutex<[GiveBack]>([])
    private let retryInterval: Duration

    /// - Parameters:
    ///   - soldOutFlagLifetime: how long a sold-out coupon is refused without asking Redis.
    ///   - retryInterval: how often give-backs that failed are tried again.
    public init(
        redis: RedisClient, database: CommerceDatabase, logger: Logger,
        soldOutFlagLifetime: Duration = .seconds(1), retryInterval: Duration = .milliseconds(250)
    ) {
        self.redis = redis
        self.database = database
        self.logger = logger
        self.soldOut = SoldOutFlags(lifetime: soldOutFlagLifetime)
        self.retryInterval = retryInterval
    }

    /// Issues the coupon to the user at `now` and returns the durable issuance.
    ///
    /// Refusals are ``CommerceError``s: `COUPON_NOT_FOUND`, `COUPON_NOT_ACTIVE`,
    /// `COUPON_ALREADY_ISSUED`, `COUPON_SOLD_OUT`. Redis unreachable: a ``RedisError``
    /// (``RedisError/isUnavailable``); not recorded in SQLite: ``IssueUnavailable``. In both
    /// cases nothing stays issued.
    public func issue(userID: Int64, couponID: Int64, at now: Int64) async throws -> IssuedCoupon {
        do {
            let issued = try await decideAndRecord(userID: userID, couponID: couponID, at: now)
            counters.record(.issued, couponID: couponID)
            return issued
        } catch {
            counters.record(Self.outcome(of: error), couponID: couponID)
            throw error
        }
    }

    private func decideAndRecord(userID: Int64, couponID: Int64, at now: Int64) async throws -> IssuedCoupon {
        if soldOut.isFlagged(couponID) { throw Self.soldOutRefusal(couponID) }
        let giveBack = GiveBack(couponID: couponID, userID: userID, issuedAt: now)
        let keys = CouponKeys(couponID: couponID)
        let reply: RedisReply
        do {
            reply = try await redis.run(LuaScripts.couponIssue, keys: [
                RedisArgument(keys.meta), RedisArgument(keys.remaining), RedisArgument(keys.issued),
            ], args: [RedisArgument(userID), RedisArgument(now)])
        } catch let error as RedisError where error.isUnavailable && error.code != .connectionFailed {
            // The script may have run with its reply lost (timeout, dropped connection): undo it
            // once Redis answers again, since the client is told nothing was issued.
            remember(giveBack, error: error)
            throw error
        }
        guard let values = reply.array, values.count == 2, let status = values[0].int, let remaining = values[1].int else {
            throw RedisError(.protocolError, "coupon-issue returned \(reply)")
        }
        switch status {
        case 0:
            if remaining == 0 { soldOut.flag(couponID) }
        case 1:
            guard try await database.read({ try CouponBook.find($0, couponID: couponID) }) == nil else {
                logger.warning("coupon is in SQLite but not in Redis (Redis lost data?); the reconcile job restores it",
                               metadata: ["coupon_id": "\(couponID)"])
                throw IssueUnavailable(message: "coupon \(couponID) cannot be issued until Redis is repaired; nothing was issued")
            }
            throw CouponBook.notFound(couponID)
        case 2:
            throw CommerceError(.couponNotActive, "coupon \(couponID) is outside its issue window")
        case 3:
            throw CommerceError(.couponAlreadyIssued, "user \(userID) already has coupon \(couponID)")
        case 4:
            soldOut.flag(couponID)
            throw Self.soldOutRefusal(couponID)
        default:
            throw RedisError(.protocolError, "coupon-issue returned status \(status)")
        }
        do {
            try await database.write { try CouponBook.recordIssue($0, userID: userID, couponID: couponID, issuedAt: now) }
        } catch {
            await self.giveBack(giveBack)
            // Redis had lost this user's entry, or the coupon is gone from SQLite: say so.
            if let refusal = error as? CommerceError { throw refusal }
            logger.error("coupon issuance not recorded in SQLite; given back to Redis",
                         metadata: ["coupon_id": "\(couponID)", "user_id": "\(userID)", "error": "\(error)"])
            throw IssueUnavailable(message: "the issuance could not be recorded; nothing was issued, try again shortly")
        }
        return IssuedCoupon(userID: userID, couponID: couponID, issuedAt: Timestamp(milliseconds: now))
    }

    // MARK: Give-backs

    /// One issuance to undo: the Redis entry of `userID` with exactly this issue time.
    struct GiveBack: Sendable, Hashable {
        var couponID: Int64
        var userID: Int64
        var issuedAt: Int64
    }

    /// Undoes the issuance now, or, if Redis cannot take it, later (see ``run()``).
    func giveBack(_ giveBack: GiveBack) async {
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
        switch (error as? CommerceError)?.code {
        case .couponSoldOut?: .soldOut
        case .couponAlreadyIssued?: .alreadyIssued
        case .couponNotActive?: .notActive
        case .couponNotFound?: .notFound
        default: .unavailable
        }
    }
}
