import Logging
import LuaScripts
import RedisClient
import Synchronization

/// Issuances to undo in Redis (`coupon-give-back.lua`) because their clients were told nothing
/// was issued. One Redis could not take at the time waits here and is retried by the coupon
/// gate's `run()`; until then its stock stays taken (the reconcile job records it as issued if
/// it never goes through).
final class GiveBackQueue: Sendable {
    /// One issuance to undo: the Redis entry of `userID` with exactly this issue time.
    struct GiveBack: Sendable, Hashable {
        var couponID: Int64
        var userID: Int64
        var issuedAt: Int64
    }

    private let redis: any RedisClient
    private let logger: Logger
    private let pending = Mutex<[GiveBack]>([])
    /// Told when a give-back put stock back, so a sold-out flag can be dropped.
    private let stockReturned: @Sendable (_ couponID: Int64) -> Void

    init(redis: any RedisClient, logger: Logger, stockReturned: @escaping @Sendable (Int64) -> Void) {
        self.redis = redis
        self.logger = logger
        self.stockReturned = stockReturned
    }

    /// Give-backs still waiting for Redis: each is a user told 503 whose Redis entry still holds stock.
    var count: Int { pending.withLock { $0.count } }

    /// Undoes the issuance now, or, if Redis cannot take it, later (see ``retry()``).
    func giveBack(_ giveBack: GiveBack) async {
        do {
            try await send(giveBack)
        } catch {
            remember(giveBack, error: error)
        }
    }

    /// Queues the give-back for a later ``retry()`` without trying now.
    func remember(_ giveBack: GiveBack, error: any Error) {
        let isFirst = pending.withLock { pending in
            pending.append(giveBack)
            return pending.count == 1
        }
        if isFirst {
            logger.warning("coupon give-back waits for Redis", metadata: [
                "coupon_id": "\(giveBack.couponID)", "user_id": "\(giveBack.userID)", "error": "\(error)",
            ])
        }
    }

    /// Sends the waiting give-backs in order until one fails (Redis still away: next round).
    func retry() async {
        let due = pending.withLock { $0 }
        var done: Set<GiveBack> = []
        for giveBack in due {
            guard (try? await send(giveBack)) != nil else { break }
            done.insert(giveBack)
        }
        guard !done.isEmpty else { return }
        let left = pending.withLock { pending in
            pending.removeAll { done.contains($0) }
            return pending.count
        }
        logger.notice("coupon give-backs done", metadata: ["count": "\(done.count)", "still_waiting": "\(left)"])
    }

    private func send(_ giveBack: GiveBack) async throws {
        let keys = CouponKeys(couponID: giveBack.couponID)
        let reply = try await redis.run(LuaScripts.couponGiveBack, keys: [keys.remaining, keys.issued],
                                        args: [RedisArgument(giveBack.userID), RedisArgument(giveBack.issuedAt)])
        if reply.int == 1 { stockReturned(giveBack.couponID) }
    }
}
