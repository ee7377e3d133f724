import CommerceStore
import Logging
import LuaScripts
import RedisClient
import Synchronization

/// Issuances to undo in Redis (`coupon-give-back.lua`) because their clients were told nothing
/// was issued. One Redis could not take at the time waits here and is retried by the coupon
/// gate's `run()`, and is recorded in the store as a pending give-back: until it is done, no
/// writer in any process (the reconcile job, another server's repair) turns it into a row, and
/// the reconcile job finishes it if this process never does. Done in Redis, it is forgotten in
/// the store too (with a row it got before it was recorded there).
final class GiveBackQueue: Sendable {
    /// One issuance to undo: the Redis entry of `userID` with exactly this issue time.
    struct GiveBack: Sendable, Hashable {
        var couponID: Int64
        var userID: Int64
        var issuedAt: Int64
    }

    private let redis: any RedisClient
    private let store: any CouponStore
    private let logger: Logger
    /// Each waiting give-back, and whether the store has its record yet.
    private let pending = Mutex<[(giveBack: GiveBack, recorded: Bool)]>([])
    /// Told when a give-back put stock back, so a sold-out flag can be dropped.
    private let stockReturned: @Sendable (_ couponID: Int64) -> Void

    init(redis: any RedisClient, store: any CouponStore, logger: Logger, stockReturned: @escaping @Sendable (Int64) -> Void) {
        self.redis = redis
        self.store = store
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
            await remember([giveBack], error: error)
        }
    }

    /// Records the give-backs in the store and queues them for a later ``retry()`` without
    /// trying Redis now; returns once the store has them (or could not take them: then each
    /// retry tries the store again first).
    func remember(_ giveBacks: [GiveBack], error: any Error) async {
        await remember(giveBacks, error: error, recorded: await record(giveBacks))
    }

    /// Undoes issuances whose rows the store failed to write — but may have committed (an
    /// answer lost with its connection): in Redis now, so the stock is back at once, and queued
    /// to be recorded and finished once the store answers again, which removes such a row.
    /// Nothing here waits for the store (it just failed): the retry records them. A reconcile
    /// meanwhile that puts such a row's entry back into Redis is undone by that retry too (the
    /// same user and issue time).
    func undoUnrecorded(_ giveBacks: [GiveBack], error: any Error) async {
        for giveBack in giveBacks { _ = try? await undoInRedis(giveBack) }
        await remember(giveBacks, error: error, recorded: false)
    }

    private func remember(_ giveBacks: [GiveBack], error: any Error, recorded: Bool) async {
        guard let first = giveBacks.first else { return }
        let isFirst = pending.withLock { pending in
            let wasEmpty = pending.isEmpty
            pending.append(contentsOf: giveBacks.map { ($0, recorded) })
            return wasEmpty
        }
        if isFirst {
            logger.warning("coupon give-back waits for Redis", metadata: [
                "coupon_id": "\(first.couponID)", "user_id": "\(first.userID)", "count": "\(giveBacks.count)", "error": "\(error)",
            ])
        }
    }

    /// `coupon-give-back.lua`: the entry with exactly this issue time goes, its stock comes back.
    private func undoInRedis(_ giveBack: GiveBack) async throws {
        let keys = CouponKeys(couponID: giveBack.couponID)
        let reply = try await redis.run(LuaScripts.couponGiveBack, keys: [keys.remaining, keys.issued],
                                        args: [RedisArgument(giveBack.userID), RedisArgument(giveBack.issuedAt)])
        if reply.int == 1 { stockReturned(giveBack.couponID) }
    }

    /// Records give-backs (all of one coupon, as a batch is) in the store; false if it failed.
    private func record(_ giveBacks: [GiveBack]) async -> Bool {
        var byCoupon: [Int64: [Issuance]] = [:]
        for giveBack in giveBacks { byCoupon[giveBack.couponID, default: []].append(Issuance(userID: giveBack.userID, issuedAt: giveBack.issuedAt)) }
        do {
            for (couponID, issuances) in byCoupon {
                try await store.recordGiveBacks(couponID: couponID, issuances, at: Timestamp.now())
            }
            return true
        } catch {
            logger.error("coupon give-backs could not be recorded in the store; retrying", metadata: ["error": "\(error)"])
            return false
        }
    }

    /// Records in the store what it does not have yet, then sends the waiting give-backs in
    /// order until one fails (Redis still away: next round).
    func retry() async {
        let unrecorded = pending.withLock { $0.filter { !$0.recorded }.map(\.giveBack) }
        if !unrecorded.isEmpty, await record(unrecorded) {
            let recorded = Set(unrecorded)
            pending.withLock { pending in
                for index in pending.indices where recorded.contains(pending[index].giveBack) { pending[index].recorded = true }
            }
        }
        let due = pending.withLock { $0.map(\.giveBack) }
        var done: Set<GiveBack> = []
        for giveBack in due {
            guard (try? await send(giveBack)) != nil else { break }
            done.insert(giveBack)
        }
        guard !done.isEmpty else { return }
        let left = pending.withLock { pending in
            pending.removeAll { done.contains($0.giveBack) }
            return pending.count
        }
        logger.notice("coupon give-backs done", metadata: ["count": "\(done.count)", "still_waiting": "\(left)"])
    }

    /// Undoes the issuance in Redis, then forgets its record in the store (and a row it got).
    private func send(_ giveBack: GiveBack) async throws {
        try await undoInRedis(giveBack)
        try await store.finishGiveBack(couponID: giveBack.couponID, Issuance(userID: giveBack.userID, issuedAt: giveBack.issuedAt))
    }
}
