import Logging
import RedisClient
import ServiceLifecycle
import ServiceTasks
import Synchronization

/// Heals Redis after it lost data, without anyone running `commerce reconcile`: as soon as a new
/// connection finds the data lost (a restart), and every `interval` besides (a flush keeps the
/// connections), while Redis's data is not trusted — coupon issuing fenced, cached reads served
/// from the store — it runs the reconcile engine's repair
/// (``Reconciler/repairLostData(stillLost:markRepaired:)``) under the reconcile lock. One process repairs;
/// the others see the marker when it is done.
final class RedisRepair: Service, Sendable {
    private let dataGuard: RedisDataGuard
    private let redis: any RedisClient
    private let reconciler: Reconciler
    private let metrics: CommerceMetrics
    private let logger: Logger
    private let interval: Duration
    /// The guard's detections already counted in the metrics (a connection's check detects too,
    /// so each look counts what came in since the last).
    private let detectionsCounted = Atomic<Int>(0)
    /// One look at a time: the wake-up task, the periodic look and the server's start-up call
    /// all begin together, and a caller that comes while a look is under way waits for its end
    /// instead of verifying and repairing again (each once logged its own start).
    private let looks = Turns<Int, CheckedContinuation<Bool, Never>>()
    /// Whether the log already says that another process holds the lock (once per wait).
    private let waitingLogged = Atomic<Bool>(false)

    init(dataGuard: RedisDataGuard, redis: any RedisClient, reconciler: Reconciler, metrics: CommerceMetrics, logger: Logger,
         interval: Duration = .milliseconds(250)) {
        self.dataGuard = dataGuard
        self.redis = redis
        self.reconciler = reconciler
        self.metrics = metrics
        self.logger = logger
        self.interval = interval
    }

    func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask {
                // Woken by a connection that found the data lost.
                while !Task.isCancelled {
                    await self.dataGuard.untrusted()
                    guard !Task.isCancelled else { return }
                    await self.checkAndRepair()
                    // Still not trusted (another process holds the lock, Redis went away): look
                    // again shortly rather than spin.
                    try? await Task.sleep(for: .milliseconds(50))
                }
            }
            // At start the guard has verified nothing yet, so the task above looks at once.
            await repeatUntilShutdown(every: interval) { await checkAndRepair() }
            group.cancelAll()
        }
    }

    /// Verifies Redis's data and, when it is not trusted, repairs it (or lets the process that
    /// holds the lock do so).
    func checkAndRepair() async {
        guard await looks.turn(0, lead: true, waiter: { $0 }) else { return }
        defer { for waiter in looks.end(0) { waiter.resume(returning: false) } }
        // Redis away: nothing to verify now; the connection that reaches it again verifies first.
        guard let primaries = try? await redis.primaries(), await verify(primaries) else { return }
        let detected = dataGuard.lossesDetected
        for _ in 0..<max(0, detected - detectionsCounted.exchange(detected, ordering: .relaxed)) {
            metrics.redisDataLoss("detected")
        }
        guard let reason = dataGuard.distrust else {
            waitingLogged.store(false, ordering: .relaxed)
            return
        }
        do {
            logger.notice("redis repair: started", metadata: ["reason": "\(reason)"])
            let repaired = try await reconciler.repairLostData(stillLost: {
                // Looked at again under the lock: the process that held it may have just repaired.
                guard await verify(primaries) else { throw RedisError(.connectionFailed, "redis went away before the repair") }
                // The run_ids as verified: a server that restarts during the repair gets a
                // marker that is not its own, and is repaired again.
                return dataGuard.distrust == nil ? nil : dataGuard.runIDs
            }, markRepaired: { runIDs in
                for primary in primaries {
                    if let runID = runIDs[primary.address] { try await primary.markRepaired(runID: runID) }
                }
            })
            guard let (report, redelivered) = repaired else {
                logger.notice("redis repair: another process had repaired it; coupon issuing resumes")
                return
            }
            metrics.redisDataLoss("repaired")
            logger.notice("redis repair: done; coupon issuing resumes", metadata: [
                "coupons": "\(report.couponsChecked)", "issuances_restored": "\(report.redisRestored)",
                "rows_inserted": "\(report.rowsInserted)", "stock_fixed": "\(report.stockFixed)",
                "ranking_days_rebuilt": "\(report.rankingDaysRebuilt)", "cache_entries_dropped": "\(report.cacheEntriesDropped)",
                "events_redelivered": "\(redelivered)", "duration_ms": "\(report.durationMs)",
            ])
        } catch is ReconcileRunning {
            // Another process holds the lock: it is repairing (its marker ends the fence here too).
            if !waitingLogged.exchange(true, ordering: .relaxed) {
                logger.notice("redis repair: another process holds the reconcile lock; waiting for its repair")
            }
        } catch {
            logger.warning("redis repair: failed; trying again", metadata: ["error": "\(error)"])
        }
    }

    /// Verifies every primary's data; false when one cannot be reached.
    private func verify(_ primaries: [RedisNodeClient]) async -> Bool {
        for primary in primaries {
            guard (try? await primary.verifyData()) != nil else { return false }
        }
        return true
    }
}
