import Logging
import RedisClient
import ServiceLifecycle
import ServiceTasks

/// Heals Redis after it lost data, without anyone running `commerce reconcile`: as soon as a new
/// connection finds the data lost (a restart), and every `interval` besides (a flush keeps the
/// connections), while Redis's data is not trusted — coupon issuing fenced, cached reads served
/// from the store — it runs the reconcile engine's repair
/// (``Reconciler/repairLostData(runID:marker:)``) under the reconcile lock. One process repairs;
/// the others see the marker when it is done.
struct RedisRepair: Service {
    let dataGuard: RedisDataGuard
    let redis: RedisClient
    let reconciler: Reconciler
    let metrics: CommerceMetrics
    let logger: Logger
    var interval: Duration = .milliseconds(250)

    func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask {
                // Woken by a connection that found the data lost.
                while !Task.isCancelled {
                    await dataGuard.untrusted()
                    guard !Task.isCancelled else { return }
                    await checkAndRepair()
                    // Still not trusted (another process holds the lock, Redis went away): look
                    // again shortly rather than spin.
                    try? await Task.sleep(for: .milliseconds(50))
                }
            }
            await checkAndRepair()
            await repeatUntilShutdown(every: interval) { await checkAndRepair() }
            group.cancelAll()
        }
    }

    /// Verifies Redis's data and, when it is not trusted, repairs it (or lets the process that
    /// holds the lock do so).
    func checkAndRepair() async {
        let detectedBefore = dataGuard.lossesDetected
        // Redis away: nothing to verify now; the connection that reaches it again verifies first.
        guard (try? await dataGuard.verify(using: { try await redis.send($0) })) != nil else { return }
        if dataGuard.lossesDetected > detectedBefore { metrics.redisDataLoss("detected") }
        guard let reason = dataGuard.distrust, let runID = dataGuard.runID else { return }
        do {
            logger.notice("redis repair: started", metadata: ["reason": "\(reason)"])
            let (report, redelivered) = try await reconciler.repairLostData(runID: runID, marker: dataGuard.markerKey)
            dataGuard.repaired(runID: runID)
            metrics.redisDataLoss("repaired")
            logger.notice("redis repair: done; coupon issuing resumes", metadata: [
                "coupons": "\(report.couponsChecked)", "issuances_restored": "\(report.redisRestored)",
                "rows_inserted": "\(report.rowsInserted)", "stock_fixed": "\(report.stockFixed)",
                "ranking_days_rebuilt": "\(report.rankingDaysRebuilt)", "cache_entries_dropped": "\(report.cacheEntriesDropped)",
                "events_redelivered": "\(redelivered)", "duration_ms": "\(report.durationMs)",
            ])
        } catch is ReconcileRunning {
            // Another process holds the lock: it is repairing (its marker ends the fence here too).
        } catch {
            logger.warning("redis repair: failed; trying again", metadata: ["error": "\(error)"])
        }
    }
}
