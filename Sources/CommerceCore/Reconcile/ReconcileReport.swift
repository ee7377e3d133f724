import CommerceStore
import FlatJSON

/// What a reconcile run changed (or, dry, would change), as CONTRACT.md writes it, plus whether
/// the two sides agreed at the end and whether it was a dry run.
public struct ReconcileReport: JSONWritable, Sendable, Equatable {
    public var couponsChecked: Int64 = 0
    /// `user_coupons` rows added from Redis.
    public var rowsInserted: Int64 = 0
    /// Issued entries put back into Redis from the database.
    public var redisRestored: Int64 = 0
    /// Coupons whose terms or remaining stock in Redis were corrected.
    public var stockFixed: Int64 = 0
    public var rankingDaysRebuilt: Int64 = 0
    public var cacheEntriesDropped: Int64 = 0
    public var durationMs: Int64 = 0
    public var dryRun = false
    /// Repairs: everything agreed at the end. Dry run: nothing would change.
    public var agreed = true
    /// Every coupon agreed at the end (what the restart fence waits for; the ranking may still
    /// be catching up with orders under way).
    public var couponsAgreed = true

    public init() {}

    /// Nothing changed (or would change).
    public var changedNothing: Bool { changes.allSatisfy { $0.count == 0 } }

    /// The change counts under their contract names, in the contract's order.
    var changes: [(name: String, count: Int64)] {
        [("rows_inserted", rowsInserted), ("redis_restored", redisRestored), ("stock_fixed", stockFixed),
         ("ranking_days_rebuilt", rankingDaysRebuilt), ("cache_entries_dropped", cacheEntriesDropped)]
    }

    public func write(to json: inout JSONWriter) {
        json.object {
            $0.field("coupons_checked", couponsChecked)
            for change in changes { $0.field(change.name, change.count) }
            $0.field("duration_ms", durationMs)
            $0.field("dry_run", dryRun)
            $0.field("agreed", agreed)
        }
    }

    /// The report for people, one figure per line.
    public var text: String {
        """
        coupons checked:       \(couponsChecked)
        rows inserted:         \(rowsInserted)  (issuances Redis had and the database lacked)
        redis restored:        \(redisRestored)  (issuances the database had and Redis lacked)
        stock fixed:           \(stockFixed)  (coupons whose terms or remaining stock in Redis were corrected)
        ranking days rebuilt:  \(rankingDaysRebuilt)
        cache entries dropped: \(cacheEntriesDropped)
        duration:              \(durationMs) ms
        \(dryRun ? (changedNothing ? "dry run: nothing would change" : "dry run: nothing was changed; the counts say what would be")
                 : (agreed ? "Redis and the database agree" : "Redis and the database still disagree (see the log)"))
        """
    }
}
