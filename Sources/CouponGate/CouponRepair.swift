import CommerceStore
import LuaScripts
import RedisClient

/// The reconcile job's coupon step: makes one coupon in Redis agree with the store, safely while
/// servers keep issuing it. Every change is one script on the coupon's slot, so nothing can
/// oversell meanwhile.
///
/// 1. Store → Redis, a keyset page at a time: issuances Redis lacks are put back
///    (`coupon-restore.lua`, which takes their stock in the same step).
/// 2. Pending give-backs (clients told nothing was issued, whose process never undid them in
///    Redis) are undone in Redis and forgotten in the store.
/// 3. Redis → store (only when the counts differ: after 1, equal counts mean equal sets): every
///    issuance Redis holds is handed to the store, which adds the missing rows with their issue
///    times, within the stock and never for a pending give-back.
/// 4. Entries still without a row (the store refused them: no stock left) are taken out of Redis,
///    if older than ``settled`` (younger ones may be a batch still being recorded).
/// 5. Terms and `remaining = stock − issued`, from the issued hash as it is then
///    (`coupon-repair.lua`).
public struct CouponRepair: Sendable {
    /// What the repair changed (or, dry, would change) for one coupon.
    public struct Outcome: Sendable, Hashable {
        /// Issuances put back into Redis from the store.
        public var restored: Int64 = 0
        /// Rows added to the store from Redis.
        public var inserted: Int64 = 0
        /// Redis entries without a row taken out (the store refused them, or they were give-backs).
        public var takenBack: Int64 = 0
        /// Terms or remaining stock corrected.
        public var stockFixed = false

        public var changedAnything: Bool { restored > 0 || inserted > 0 || takenBack > 0 || stockFixed }
    }

    private let redis: any RedisClient
    private let store: any CouponStore
    private let registry: CouponRegistry
    private let batchSize: Int

    public init(redis: any RedisClient, store: any CouponStore, batchSize: Int = 10_000) {
        self.redis = redis
        self.store = store
        self.registry = CouponRegistry(redis: redis)
        self.batchSize = batchSize
    }

    /// Repairs the coupon (with `dryRun`, only counts). `progress` hears a line after each
    /// batch; it may throw to stop the run (the reconcile lock was lost).
    public func repair(_ coupon: Coupon, dryRun: Bool, progress: @escaping @Sendable (String) async throws -> Void) async throws -> Outcome {
        let keys = CouponKeys(couponID: coupon.couponID)
        let mode: RedisArgument = dryRun ? "check" : "apply"
        var outcome = Outcome()

        var afterUser: Int64 = 0
        var rowsChecked = 0
        while true {
            let page = try await store.issuances(couponID: coupon.couponID, afterUser: afterUser, limit: batchSize)
            guard let last = page.last else { break }
            var args = [mode]
            args.reserveCapacity(1 + page.count * 2)
            for issuance in page {
                args.append(RedisArgument(issuance.userID))
                args.append(RedisArgument(issuance.issuedAt))
            }
            let reply = try await redis.run(LuaScripts.couponRestore, keys: [keys.issued, keys.remaining], args: args)
            guard let restored = reply.int else { throw RedisError(.protocolError, "coupon-restore returned \(reply)") }
            outcome.restored += restored
            afterUser = last.userID
            rowsChecked += page.count
            try await progress("coupon \(coupon.couponID): \(rowsChecked) rows checked against Redis")
        }

        outcome.takenBack += try await finishGiveBacks(coupon.couponID, dryRun: dryRun)

        // Issuances in flight (decided in Redis, not yet recorded) make Redis briefly ahead:
        // then the full pass, which finds nothing to add for them or adds their rows first.
        let everyRowInRedis = !dryRun || outcome.restored == 0
        let rows = try await store.issuedCount(couponID: coupon.couponID)
        let sameCount = try await registry.issuedCount(couponID: coupon.couponID) == rows
        if !(everyRowInRedis && sameCount) {
            outcome.inserted = try await recordMissingRows(coupon, keys, dryRun: dryRun, progress: progress)
            let rowsNow = try await store.issuedCount(couponID: coupon.couponID)
            if try await registry.issuedCount(couponID: coupon.couponID) > rowsNow {
                outcome.takenBack += try await takeBackEntriesWithoutRows(coupon, keys, dryRun: dryRun)
            }
        }

        // The stock as the store holds it now: a change made meanwhile has a later version,
        // which the script leaves in place.
        let current = try await store.coupon(coupon.couponID) ?? coupon
        let reply = try await redis.run(LuaScripts.couponRepair, keys: keys.all, args: [
            RedisArgument(current.validFrom.milliseconds), RedisArgument(current.validUntil.milliseconds),
            RedisArgument(current.stock), mode, RedisArgument(current.termsVersion),
        ])
        guard let changed = reply.array?.first?.int else { throw RedisError(.protocolError, "coupon-repair returned \(reply)") }
        outcome.stockFixed = changed == 1
        return outcome
    }

    /// Hands every issuance in Redis (HSCAN batches, hash order) to the store, which adds the
    /// missing rows; returns how many were (or would be) added.
    private func recordMissingRows(
        _ coupon: Coupon, _ keys: CouponKeys, dryRun: Bool, progress: @escaping @Sendable (String) async throws -> Void
    ) async throws -> Int64 {
        let scan = HashScan(redis: redis, key: keys.issued, batchSize: batchSize)
        return try await store.recordMissingIssuances(couponID: coupon.couponID, dryRun: dryRun, next: {
            guard let batch = try await scan.nextIssuances() else { return nil }
            try await progress("coupon \(coupon.couponID): \(scan.count) Redis issuances read")
            return batch
        }, checked: { checked in
            try await progress("coupon \(coupon.couponID): \(checked) of \(scan.count) Redis issuances checked against the store")
        })
    }

    /// How old a Redis entry without a row must be before it is taken out: a younger one may
    /// belong to a batch Redis decided and the store is still recording.
    public static let settled: Int64 = 30_000

    /// Undoes in Redis the give-backs the store still records as pending (their process never
    /// did, or has not yet), and forgets them; returns how many Redis entries went.
    private func finishGiveBacks(_ couponID: Int64, dryRun: Bool) async throws -> Int64 {
        var taken: Int64 = 0
        while true {
            let pending = try await store.pendingGiveBacks(couponID: couponID, limit: 1_000)
            guard !pending.isEmpty else { return taken }
            if dryRun { return Int64(pending.count) }
            taken += try await registry.takeBack(couponID: couponID, pending)
            for issuance in pending { try await store.finishGiveBack(couponID: couponID, issuance) }
        }
    }

    /// Takes out of Redis every settled entry the store has no row for (HSCAN batches); returns
    /// how many went (or, dry, would).
    private func takeBackEntriesWithoutRows(_ coupon: Coupon, _ keys: CouponKeys, dryRun: Bool) async throws -> Int64 {
        let scan = HashScan(redis: redis, key: keys.issued, batchSize: batchSize)
        let settledBefore = Timestamp.now() - Self.settled
        var taken: Int64 = 0
        while let batch = try await scan.nextIssuances() {
            let entries = batch.filter { $0.issuedAt < settledBefore }
            let holders = try await store.holders(couponID: coupon.couponID, among: entries.map(\.userID))
            let orphans = entries.filter { holders[$0.userID] == nil }
            if dryRun { taken += Int64(orphans.count) } else { taken += try await registry.takeBack(couponID: coupon.couponID, orphans) }
        }
        return taken
    }

    /// Whether Redis issued == store rows == stock − remaining. Issuances in flight (decided in
    /// Redis, not yet recorded) make Redis briefly ahead, so a difference is looked at a few
    /// times; the last look is returned.
    public func agrees(_ coupon: Coupon) async throws -> (agrees: Bool, redisIssued: Int64, rows: Int64, redisRemaining: Int64) {
        var last: (Bool, Int64, Int64, Int64) = (false, -1, -1, -1)
        for attempt in 0..<10 {
            async let live = registry.liveCounts(couponID: coupon.couponID)
            let rows = try await store.issuedCount(couponID: coupon.couponID)
            let counts = try await live ?? (remaining: -1, issued: -1)
            let agrees = counts.issued == rows && counts.remaining == max(0, coupon.stock - counts.issued)
            last = (agrees, counts.issued, rows, counts.remaining)
            if agrees || attempt == 9 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        return last
    }
}
