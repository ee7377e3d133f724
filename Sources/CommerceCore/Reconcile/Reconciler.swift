import CommerceStore
import CouponGate
import Foundation
import Logging
import Ranking
import RedisClient
import Synchronization

/// The reconcile job: makes Redis agree with the store after crashes and lost Redis data, safely
/// while servers keep issuing coupons and taking orders. One engine behind `commerce reconcile`,
/// `POST /admin/reconcile` and the nightly run in `serve`; one run at a time across processes
/// (``ReconcileLock``).
///
/// It orchestrates three steps that each live with what they repair: coupons
/// (``CouponRepair``: issuances both ways, then `remaining = stock − issued`), the ranking
/// (``SalesRanking/rebuild(_:from:dryRun:)`` for each day of the window), the item cache
/// (``ItemCache/dropStaleEntries(dryRun:)``). Everything goes in batches: memory does not grow
/// with the number of issuances.
public final class Reconciler: Sendable {
    private let store: any StoreDriver
    private let redis: any RedisClient
    private let coupons: CouponRepair
    private let ranking: SalesRanking
    private let itemCache: ItemCache
    private let logger: Logger
    private let now: @Sendable () -> Int64
    private let lockLifetime: Duration
    /// The repair's token for the reconcile lock, the same for all its looks (one at a time): a
    /// look whose take lost its reply holds the lock at the next look instead of waiting out
    /// its lifetime.
    private let repairLockToken = UUID().uuidString
    /// Where a one-line progress message goes (a terminal), besides the log.
    private let progress: (@Sendable (String) -> Void)?
    /// When the log last got a progress line: at most one a second.
    private let lastLogged = Mutex<ContinuousClock.Instant?>(nil)
    /// The server's metrics (runs and their changes); nil in `commerce reconcile`.
    private let metrics: CommerceMetrics?

    /// The engine over `store` and `redis`, with its own view of the ranking (days in
    /// `timeZone`) and of the item cache: `serve` and `commerce reconcile` build it alike.
    /// - Parameters:
    ///   - progress: where a one-line progress message goes (a terminal), besides the log.
    ///   - metrics: the server's (runs and their changes); nil in `commerce reconcile`.
    public init(
        store: any StoreDriver, redis: any RedisClient, timeZone: TimeZone, logger: Logger,
        now: @escaping @Sendable () -> Int64 = Timestamp.now, lockLifetime: Duration = .seconds(60),
        progress: (@Sendable (String) -> Void)? = nil, metrics: CommerceMetrics? = nil
    ) {
        self.store = store
        self.redis = redis
        self.coupons = CouponRepair(redis: redis, store: store.coupons)
        self.ranking = SalesRanking(redis: redis, timeZone: timeZone)
        self.itemCache = ItemCache(redis: redis, items: store.items, logger: logger)
        self.logger = logger
        self.now = now
        self.lockLifetime = lockLifetime
        self.progress = progress
        self.metrics = metrics
    }

    /// Runs once. With `dryRun` nothing changes and the report counts what would.
    /// Throws ``ReconcileRunning`` when another run holds the lock (after waiting up to
    /// `lockPatience` for it: a nightly cron job waits out a repair under way), and Redis or
    /// store errors when one is unreachable.
    public func run(dryRun: Bool, lockPatience: Duration = .zero) async throws -> ReconcileReport {
        let lock = try await ReconcileLock.take(redis, lifetime: lockLifetime, patience: lockPatience)
        return try await run(dryRun: dryRun, counted: true, lock: lock) { _ in }
    }

    /// Repairs Redis after it lost data (see `RedisDataGuard`): under the lock, `stillLost` looks
    /// at Redis again (another process may have finished the repair between this one's look and
    /// its turn for the lock) and returns each server's `run_id` as seen, or nil when the data is
    /// trusted now — then nothing runs and nil is returned. Else the run above, then each outbox
    /// sink's cursor moved back to what Redis still holds (the stream's watermark; none: every
    /// order again, consumers drop repeats by `event_id`), then `markRepaired` with the `run_id`s
    /// seen (each written into its server's marker). Returns the report and how many orders go
    /// out again.
    func repairLostData(
        stillLost: () async throws -> [String: String]?,
        markRepaired: ([String: String]) async throws -> Void
    ) async throws -> (report: ReconcileReport, redelivered: Int64)? {
        let lock = try await ReconcileLock.take(redis, token: repairLockToken, lifetime: lockLifetime)
        let runIDs: [String: String]
        do {
            guard let seen = try await stillLost() else {
                await lock.release()
                return nil
            }
            runIDs = seen
        } catch {
            await lock.release()
            throw error
        }
        var redelivered: Int64 = 0
        let report = try await run(dryRun: false, counted: false, lock: lock) { [self] report in
            // A coupon that still disagrees (rows committed by batches decided before the loss,
            // say) keeps the fence: the repair runs again until its check agrees.
            guard report.couponsAgreed else { throw RepairDisagreed() }
            let held = try await redis.send("GET", .key(OrderEvent.watermark)).int ?? 0
            let cursor = try await store.outbox.cursor(sink: OrderEvent.stream)
            if held < cursor {
                try await store.outbox.rewind(sink: OrderEvent.stream, to: held, at: now())
                // Positions are not counts (PostgreSQL's are transaction ids): count what waits.
                redelivered = Int64(try await store.outbox.backlog(sink: OrderEvent.stream))
            }
            try await markRepaired(runIDs)
        }
        return (report, redelivered)
    }

    /// The run under `lock`, which it releases; `then` runs last, still under the lock.
    /// `counted`: in the reconcile metrics (the repair after data loss has its own).
    private func run(
        dryRun: Bool, counted: Bool, lock: ReconcileLock, then: (ReconcileReport) async throws -> Void
    ) async throws -> ReconcileReport {
        let started = ContinuousClock.now
        var report = ReconcileReport()
        report.dryRun = dryRun
        logger.info("reconcile: started", metadata: ["dry_run": "\(dryRun)"])
        do {
            try await reconcileCoupons(&report, lock: lock)
            try await reconcileRanking(&report)
            report.cacheEntriesDropped = try await itemCache.dropStaleEntries(dryRun: dryRun)
            step("item cache checked")
            try await lock.extendIfDue()
            try await then(report)
        } catch {
            await lock.release()
            logger.error("reconcile: stopped", metadata: ["error": "\(error)"])
            if counted { metrics?.reconcile(nil) }
            throw error
        }
        await lock.release()
        if dryRun { report.agreed = report.changedNothing }
        report.durationMs = (ContinuousClock.now - started).wholeMilliseconds
        var metadata: Logger.Metadata = [
            "dry_run": "\(dryRun)", "agreed": "\(report.agreed)", "coupons_checked": "\(report.couponsChecked)",
            "duration_ms": "\(report.durationMs)",
        ]
        for change in report.changes { metadata[change.name] = "\(change.count)" }
        logger.notice("reconcile: finished", metadata: metadata)
        if counted { metrics?.reconcile(report) }
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

    private func reconcileCoupons(_ report: inout ReconcileReport, lock: ReconcileLock) async throws {
        let dryRun = report.dryRun
        var afterID: Int64 = 0
        while true {
            let page = try await store.coupons.page(afterID: afterID, limit: 100)
            guard let last = page.last else { return }
            for coupon in page {
                try await lock.extendIfDue()
                let outcome = try await coupons.repair(coupon, dryRun: dryRun) { line in
                    self.step(line)
                    try await lock.extendIfDue()
                }
                report.couponsChecked += 1
                report.redisRestored += outcome.restored
                report.rowsInserted += outcome.inserted
                if outcome.stockFixed || outcome.takenBack > 0 { report.stockFixed += 1 }
                if outcome.changedAnything {
                    logger.notice("reconcile: coupon \(dryRun ? "would be " : "")repaired", metadata: [
                        "coupon_id": "\(coupon.couponID)", "redis_restored": "\(outcome.restored)",
                        "rows_inserted": "\(outcome.inserted)", "taken_back": "\(outcome.takenBack)", "stock_fixed": "\(outcome.stockFixed)",
                    ])
                }
                if !dryRun {
                    let check = try await coupons.agrees(coupon)
                    if !check.agrees {
                        report.agreed = false
                        report.couponsAgreed = false
                        logger.warning("reconcile: coupon still disagrees", metadata: [
                            "coupon_id": "\(coupon.couponID)", "redis_issued": "\(check.redisIssued)",
                            "\(store.name)_rows": "\(check.rows)", "redis_remaining": "\(check.redisRemaining)",
                            "stock": "\(coupon.stock)",
                        ])
                    }
                }
            }
            afterID = last.couponID
        }
    }

    private func reconcileRanking(_ report: inout ReconcileReport) async throws {
        let window = SalesWindow(endingAt: Timestamp(milliseconds: now()).date, in: ranking.timeZone)
        for day in window.allDays {
            do {
                if try await ranking.rebuild(day, from: store.sales, dryRun: report.dryRun) {
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
}

/// The repair after data loss found Redis and the store still disagreeing: Redis stays fenced
/// and the repair runs again.
struct RepairDisagreed: Error, CustomStringConvertible {
    var description: String { "Redis and the store still disagree after the repair; repairing again" }
}
