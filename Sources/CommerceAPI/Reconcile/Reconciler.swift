import CommerceStore
import CouponGate
import Foundation
import GRDB
import Logging
import LuaScripts
import Ranking
import RedisClient
import Synchronization

/// Another reconcile run holds the lock (in this or another process).
public struct ReconcileRunning: Error, CustomStringConvertible {
    public var description: String { "another reconcile run is in progress; try again when it has finished" }
}

/// The reconcile job: makes Redis agree with SQLite after crashes and lost Redis data, safely
/// while servers keep issuing coupons and taking orders. One engine behind `commerce reconcile`,
/// `POST /admin/reconcile` and the nightly run in `serve`; one run at a time across processes
/// (a Redis lock with expiry, kept alive while the run works).
///
/// Per coupon: issuances SQLite holds and Redis lacks are put back (`coupon-restore.lua`, which
/// takes their stock in the same step); issuances Redis holds and SQLite lacks get their row with
/// the original issue time; then the terms and `remaining = stock - issued` are set from the
/// issued hash in one script (`coupon-repair.lua`), so issuing that goes on meanwhile can never
/// oversell. Ranking: the window's days rebuilt where they differ. Item cache: entries that
/// disagree with SQLite dropped. Everything in batches: HSCAN/SCAN cursors in Redis, keyset pages
/// in SQLite; memory does not grow with the number of issuances.
public final class Reconciler: Sendable {
    static let lockKey = "reconcile:lock"

    private let database: CommerceDatabase
    private let redis: RedisClient
    private let ranking: SalesRanking
    private let itemCache: ItemCache
    private let logger: Logger
    private let now: @Sendable () -> Int64
    private let batchSize: Int
    private let lockLifetime: Duration
    /// Where a one-line progress message goes (a terminal), besides the log.
    private let progress: (@Sendable (String) -> Void)?
    /// When the log last got a progress line: at most one a second.
    private let lastLogged = Mutex<ContinuousClock.Instant?>(nil)
    /// The server's metrics (runs and their changes); nil in `commerce reconcile`.
    private let metrics: CommerceMetrics?

    init(
        database: CommerceDatabase, redis: RedisClient, ranking: SalesRanking, itemCache: ItemCache, logger: Logger,
        now: @escaping @Sendable () -> Int64, batchSize: Int = 10_000, lockLifetime: Duration = .seconds(60),
        progress: (@Sendable (String) -> Void)? = nil, metrics: CommerceMetrics? = nil
    ) {
        self.metrics = metrics
        self.database = database
        self.redis = redis
        self.ranking = ranking
        self.itemCache = itemCache
        self.logger = logger
        self.now = now
        self.batchSize = batchSize
        self.lockLifetime = lockLifetime
        self.progress = progress
    }

    /// A reconciler for the given stores, for `commerce reconcile`.
    public convenience init(
        database: CommerceDatabase, redis: RedisClient, timeZone: TimeZone, logger: Logger,
        batchSize: Int = 10_000, progress: (@Sendable (String) -> Void)? = nil
    ) {
        self.init(database: database, redis: redis, ranking: SalesRanking(redis: redis, timeZone: timeZone),
                  itemCache: ItemCache(redis: redis, database: database, logger: logger), logger: logger,
                  now: AppDependencies.systemNow, batchSize: batchSize, progress: progress)
    }

    /// Runs once. With `dryRun` nothing changes and the report counts what would.
    /// Throws ``ReconcileRunning`` when another run holds the lock, and Redis or SQLite errors
    /// when a store is unreachable.
    public func run(dryRun: Bool) async throws -> ReconcileReport {
        let started = ContinuousClock.now
        let lock = try await Lock.take(redis, key: Self.lockKey, lifetime: lockLifetime)
        var report = ReconcileReport()
        report.dryRun = dryRun
        logger.info("reconcile: started", metadata: ["dry_run": "\(dryRun)"])
        do {
            try await reconcileCoupons(&report, lock: lock)
            try await reconcileRanking(&report)
            try await reconcileItemCache(&report)
        } catch {
            await lock.release(redis)
            logger.error("reconcile: stopped", metadata: ["error": "\(error)"])
            metrics?.reconcile(nil)
            throw error
        }
        await lock.release(redis)
        if dryRun { report.agreed = report.changedNothing }
        report.durationMs = (ContinuousClock.now - started).wholeMilliseconds
        var metadata: Logger.Metadata = [
            "dry_run": "\(dryRun)", "agreed": "\(report.agreed)", "coupons_checked": "\(report.couponsChecked)",
            "duration_ms": "\(report.durationMs)",
        ]
        for change in report.changes { metadata[change.name] = "\(change.count)" }
        logger.notice("reconcile: finished", metadata: metadata)
        metrics?.reconcile(report)
        return report
    }

    /// Reports progress: every step to the terminal line, and to the log once a second.
    private func step(_ line: String) {
        progress?(line)
        let now = ContinuousClock.now
        let due = lastLogged.withLock { last in
            guard last.map({ now - $0 >= .seconds(1) }) ?? true else { return false }
            last = now
            return true
        }
        if due { logger.info("reconcile: \(line)") }
    }

    // MARK: Coupons

    private func reconcileCoupons(_ report: inout ReconcileReport, lock: Lock) async throws {
        var afterID: Int64 = 0
        while true {
            let coupons = try await database.read { [afterID] in try CouponBook.page($0, afterID: afterID, limit: 100) }
            guard let last = coupons.last else { return }
            for coupon in coupons {
                try await lock.keep(redis)
                try await reconcile(coupon, &report, lock: lock)
                report.couponsChecked += 1
            }
            afterID = last.couponID
        }
    }

    private func reconcile(_ coupon: Coupon, _ report: inout ReconcileReport, lock: Lock) async throws {
        let keys = CouponKeys(couponID: coupon.couponID)
        let mode: RedisArgument = report.dryRun ? "check" : "apply"
        var rowsChecked = 0

        // SQLite → Redis, a keyset page of rows at a time.
        var restored: Int64 = 0
        var afterUser: Int64 = 0
        while true {
            let page = try await database.read { [batchSize, afterUser] in
                try CouponBook.issuances($0, couponID: coupon.couponID, afterUser: afterUser, limit: batchSize)
            }
            guard let last = page.last else { break }
            var args = [mode]
            args.reserveCapacity(1 + page.count * 2)
            for issuance in page {
                args.append(RedisArgument(issuance.userID))
                args.append(RedisArgument(issuance.issuedAt))
            }
            restored += try await redis.run(LuaScripts.couponRestore, keys: [RedisArgument(keys.issued), RedisArgument(keys.remaining)], args: args).int ?? 0
            afterUser = last.userID
            rowsChecked += page.count
            try await lock.keep(redis)
            step("coupon \(coupon.couponID): \(rowsChecked) rows checked against Redis")
        }

        // Redis → SQLite. Once every row is in Redis, equal counts mean equal sets and nothing
        // to do (issuances in flight make Redis briefly ahead: then the full pass).
        let everyRowInRedis = !report.dryRun || restored == 0
        let rows = try await database.read { try CouponBook.issuedCount($0, couponID: coupon.couponID) }
        let sameCount = try await redisIssuedCount(keys) == rows
        let inserted = everyRowInRedis && sameCount ? 0 : try await recordMissingRows(coupon, keys, dryRun: report.dryRun, lock: lock)

        // Terms and remaining stock, from the issued hash as it is now.
        let repair = try await redis.run(LuaScripts.couponRepair, keys: [
            RedisArgument(keys.meta), RedisArgument(keys.remaining), RedisArgument(keys.issued),
        ], args: [
            RedisArgument(coupon.validFrom.milliseconds), RedisArgument(coupon.validUntil.milliseconds),
            RedisArgument(coupon.stock), mode,
        ])
        let fixed = repair.array?.first?.int == 1

        report.redisRestored += restored
        report.rowsInserted += inserted
        if fixed { report.stockFixed += 1 }
        if restored > 0 || inserted > 0 || fixed {
            logger.notice("reconcile: coupon \(report.dryRun ? "would be " : "")repaired", metadata: [
                "coupon_id": "\(coupon.couponID)", "redis_restored": "\(restored)", "rows_inserted": "\(inserted)",
                "stock_fixed": "\(fixed)",
            ])
        }
        if !report.dryRun, try await !couponAgrees(coupon) { report.agreed = false }
    }

    private func redisIssuedCount(_ keys: CouponKeys) async throws -> Int64 {
        try await redis.send("HLEN", RedisArgument(keys.issued)).int ?? 0
    }

    /// Stages every issuance in Redis (HSCAN batches, hash order) on the writer connection, then
    /// gives those without a row one, in user order; returns how many rows were (or would be)
    /// added.
    private func recordMissingRows(_ coupon: Coupon, _ keys: CouponKeys, dryRun: Bool, lock: Lock) async throws -> Int64 {
        try await database.pool.write { try CouponBook.startStaging($0) }
        var staged = 0
        var cursor = "0"
        repeat {
            let (next, flat) = try await scanStep("HSCAN", RedisArgument(keys.issued), RedisArgument(cursor), "COUNT", RedisArgument(batchSize))
            cursor = next
            var batch: [CouponBook.Issuance] = []
            batch.reserveCapacity(flat.count / 2)
            for index in stride(from: 0, to: flat.count - 1, by: 2) {
                guard let user = flat[index].int, let issuedAt = flat[index + 1].int else { continue }
                batch.append(.init(userID: user, issuedAt: issuedAt))
            }
            let found = batch
            try await database.pool.write { try CouponBook.stage($0, found) }
            staged += batch.count
            try await lock.keep(redis)
            step("coupon \(coupon.couponID): \(staged) Redis issuances read")
        } while cursor != "0"

        try await database.pool.write { try CouponBook.sortStaged($0) }
        var added: Int64 = 0
        var afterUser: Int64 = 0
        var checked = 0
        while true {
            let (lastUser, count) = try await database.pool.write { [afterUser, batchSize] in
                try CouponBook.recordStaged($0, couponID: coupon.couponID, afterUser: afterUser, limit: batchSize, dryRun: dryRun)
            }
            guard let lastUser else { break }
            added += Int64(count)
            afterUser = lastUser
            checked += batchSize
            try await lock.keep(redis)
            step("coupon \(coupon.couponID): \(min(checked, staged)) of \(staged) Redis issuances checked against SQLite")
        }
        try await database.pool.write { try $0.execute(sql: "DROP TABLE IF EXISTS temp.staged_issuances") }
        return added
    }

    /// Redis issued == SQLite rows == stock - remaining. Issuances in flight (decided in Redis,
    /// not yet written) make Redis briefly ahead, so a difference is looked at a few times.
    private func couponAgrees(_ coupon: Coupon) async throws -> Bool {
        let keys = CouponKeys(couponID: coupon.couponID)
        for attempt in 0..<10 {
            async let issued = redis.send("HLEN", RedisArgument(keys.issued))
            async let remaining = redis.send("GET", RedisArgument(keys.remaining))
            let rows = try await database.read { try CouponBook.issuedCount($0, couponID: coupon.couponID) }
            let (redisIssued, redisRemaining) = (try await issued.int ?? -1, try await remaining.int ?? -1)
            if redisIssued == rows && redisRemaining == max(0, coupon.stock - redisIssued) { return true }
            if attempt == 9 {
                logger.warning("reconcile: coupon still disagrees", metadata: [
                    "coupon_id": "\(coupon.couponID)", "redis_issued": "\(redisIssued)", "sqlite_rows": "\(rows)",
                    "redis_remaining": "\(redisRemaining)", "stock": "\(coupon.stock)",
                ])
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    // MARK: Ranking

    private func reconcileRanking(_ report: inout ReconcileReport) async throws {
        let window = SalesWindow(endingAt: Timestamp(milliseconds: now()).date, in: ranking.timeZone)
        for day in window.allDays {
            do {
                if try await ranking.rebuild(day, from: database, dryRun: report.dryRun) {
                    report.rankingDaysRebuilt += 1
                    logger.notice("reconcile: ranking day \(report.dryRun ? "would be " : "")rebuilt", metadata: ["day": "\(day)"])
                }
            } catch let error as RebuildContended {
                logger.warning("reconcile: \(error)")
                report.agreed = false
            }
        }
        step("ranking: \(window.from) to \(window.to) checked")
    }

    // MARK: Item cache

    private func reconcileItemCache(_ report: inout ReconcileReport) async throws {
        var cursor = "0"
        repeat {
            let (next, keys) = try await scanStep("SCAN", RedisArgument(cursor), "MATCH", "item:*", "COUNT", "1000")
            cursor = next
            // Per SCAN batch: the cached values read concurrently (pipelined), SQLite read once.
            let itemIDs = keys.compactMap { $0.string.flatMap { Int64($0.dropFirst("item:".count)) } }
            let cached = try await withThrowingTaskGroup(of: (Int64, [UInt8]?).self) { group in
                for itemID in itemIDs {
                    group.addTask { [redis] in
                        (itemID, try await redis.send("HGET", RedisArgument(ItemCache.itemKey(itemID)), "item").bytes)
                    }
                }
                // A key holding only a version (nil) is left out: nothing to disagree with.
                return try await group.reduce(into: [Int64: [UInt8]]()) { $0[$1.0] = $1.1 }
            }
            let ids = Array(cached.keys)
            let live = try await database.read { try ItemCatalog.live($0, itemIDs: ids) }
            for (itemID, value) in cached where value != live[itemID].map(ItemCache.compact) {
                try await drop(ItemCache.itemKey(itemID), &report)
            }
        } while cursor != "0"

        // Listing pages: each cached page compared with the page SQLite gives now. (Popular
        // lists live half a second; they are left to expire.)
        var stale = 0
        cursor = "0"
        repeat {
            let (next, flat) = try await scanStep("HSCAN", RedisArgument(ItemCache.pagesKey), RedisArgument(cursor), "COUNT", "1000")
            cursor = next
            for index in stride(from: 0, to: flat.count - 1, by: 2) {
                guard let field = flat[index].string, let (afterID, limit) = ItemCache.pageField(field) else { continue }
                let truth = try await database.read { try ItemCache.renderPage($0, afterID: afterID, limit: limit) }
                if flat[index + 1].bytes != truth { stale += 1 }
            }
        } while cursor != "0"
        if stale > 0 {
            report.cacheEntriesDropped += Int64(stale - 1)  // the drop below counts one
            try await drop(ItemCache.pagesKey, &report)
        }
        step("item cache checked")
    }

    /// One step of a SCAN-family cursor: the next cursor ("0": done) and this step's elements.
    private func scanStep(_ arguments: RedisArgument...) async throws -> (next: String, elements: [RedisReply]) {
        let reply = try await redis.send(RedisCommand(arguments))
        guard let parts = reply.array, parts.count == 2, let next = parts[0].string, let elements = parts[1].array else {
            throw RedisError(.protocolError, "\(String(decoding: arguments[0].bytes, as: UTF8.self)) returned \(reply)")
        }
        return (next, elements)
    }

    private func drop(_ key: String, _ report: inout ReconcileReport) async throws {
        report.cacheEntriesDropped += 1
        guard !report.dryRun else { return }
        guard await itemCache.invalidateNow(key) else {
            throw RedisError(.connectionFailed, "could not drop the cache entry \(key)")
        }
    }
}

/// The run's lock: `SET key token NX PX`, extended while the run works and released at the end
/// (by token, so a run whose lock expired cannot release another run's).
private final class Lock: Sendable {
    let key: String
    let token: String
    let lifetime: Duration
    private let extendedAt: Mutex<ContinuousClock.Instant>

    private init(key: String, token: String, lifetime: Duration) {
        self.key = key
        self.token = token
        self.lifetime = lifetime
        self.extendedAt = Mutex(.now)
    }

    static func take(_ redis: RedisClient, key: String, lifetime: Duration) async throws -> Lock {
        let token = UUID().uuidString
        let reply = try await redis.send("SET", RedisArgument(key), RedisArgument(token), "NX", "PX", RedisArgument(milliseconds: lifetime))
        guard reply.string == "OK" else { throw ReconcileRunning() }
        return Lock(key: key, token: token, lifetime: lifetime)
    }

    /// Extends the lock once a third of its lifetime has passed since the last extension;
    /// throws if it was lost (the run stalled past the lifetime and another may have started).
    func keep(_ redis: RedisClient) async throws {
        let now = ContinuousClock.now
        guard extendedAt.withLock({ now - $0 > lifetime / 3 }) else { return }
        let reply = try await redis.run(LuaScripts.lockExtend, keys: [RedisArgument(key)],
                                        args: [RedisArgument(token), RedisArgument(milliseconds: lifetime)])
        guard reply.int == 1 else { throw ReconcileRunning() }
        extendedAt.withLock { $0 = now }
    }

    func release(_ redis: RedisClient) async {
        _ = try? await redis.run(LuaScripts.lockRelease, keys: [RedisArgument(key)], args: [RedisArgument(token)])
    }
}
