import CommerceStore
import GRDB

struct SQLiteCouponStore: CouponStore {
    let store: SQLiteStore

    func create(_ coupon: NewCoupon, at now: Int64) async throws -> Coupon {
        try await store.write { try CouponBook.create($0, coupon, at: now) }
    }

    func delete(couponID: Int64) async throws {
        try await store.write { try CouponBook.delete($0, couponID: couponID) }
    }

    func coupon(_ couponID: Int64) async throws -> Coupon? {
        try await store.read { try CouponBook.find($0, couponID: couponID) }
    }

    func changeTerms(of current: Coupon, stock: Int64, validUntil: Timestamp) async throws -> TermsChangeOutcome {
        try await store.write { try CouponBook.changeTerms($0, of: current, stock: stock, validUntil: validUntil) }
    }

    func page(afterID: Int64, limit: Int) async throws -> [Coupon] {
        try await store.read { try CouponBook.page($0, afterID: afterID, limit: limit) }
    }

    func active(at now: Int64, limit: Int) async throws -> [Coupon] {
        try await store.read { try CouponBook.active($0, at: now, limit: limit) }
    }

    /// One group-commit write for the batch: one statement inserts the rows of users new to the
    /// coupon up to the stock left (nearly always all of them); only the others go one statement
    /// each, where a failing one undoes itself and nothing else, unless its error ended the whole
    /// transaction (disk full, I/O), which then fails the whole call.
    func recordIssues(couponID: Int64, _ issuances: [Issuance]) async throws -> [Result<Void, any Error>] {
        // A user twice in the batch (Redis never admits one twice, but the store must not rely
        // on Redis): only the first goes into the bulk insert, the other is decided on its own.
        var seen = Set<Int64>(minimumCapacity: issuances.count)
        let firsts = issuances.filter { seen.insert($0.userID).inserted }
        return try await store.write { db in
            var inserted: Set<Int64> = []
            do {
                inserted = Set(try CouponBook.recordNewIssues(db, couponID: couponID, firsts))
            } catch where db.isInsideTransaction {
                // The statement undid itself: every issuance gets its own below.
            }
            return try issuances.map { issuance in
                // A user twice in one batch got its row from the first of them (json_each's order).
                if inserted.remove(issuance.userID) != nil { return .success(()) }
                do {
                    try CouponBook.recordIssue(db, userID: issuance.userID, couponID: couponID, issuedAt: issuance.issuedAt)
                    return .success(())
                } catch where db.isInsideTransaction {
                    return .failure(SQLiteStore.mapped(error))
                }
            }
        }
    }

    func held(userID: Int64) async throws -> [HeldCoupon] {
        try await store.read { try CouponBook.held($0, userID: userID) }
    }

    func issuedCount(couponID: Int64) async throws -> Int64 {
        try await store.read { try CouponBook.issuedCount($0, couponID: couponID) }
    }

    func issuances(couponID: Int64, afterUser: Int64, limit: Int) async throws -> [Issuance] {
        try await store.read { try CouponBook.issuances($0, couponID: couponID, afterUser: afterUser, limit: limit) }
    }

    /// Stages every issuance handed over in a TEMP table, sorts it once, then inserts the missing
    /// ones in user order (see ``CouponBook/startStaging(_:)``). The TEMP table lives on one
    /// connection: the pool's single writer, used directly (not through group commit) from one
    /// call to the next.
    func recordMissingIssuances(
        couponID: Int64, dryRun: Bool, next: @Sendable () async throws -> [Issuance]?,
        checked: @Sendable (Int) async throws -> Void
    ) async throws -> Int64 {
        let batchSize = 10_000
        try await store.writeDirectly { try CouponBook.startStaging($0) }
        var staged = 0
        while let batch = try await next() {
            try await store.writeDirectly { try CouponBook.stage($0, batch) }
            staged += batch.count
        }
        try await store.writeDirectly { try CouponBook.sortStaged($0) }
        var added: Int64 = 0
        var afterUser: Int64 = 0
        var compared = 0
        while true {
            let (lastUser, count) = try await store.writeDirectly { [afterUser] in
                try CouponBook.recordStaged($0, couponID: couponID, afterUser: afterUser, limit: batchSize, dryRun: dryRun)
            }
            guard let lastUser else { break }
            added += Int64(count)
            afterUser = lastUser
            compared += batchSize
            try await checked(min(compared, staged))
        }
        try await store.writeDirectly { try $0.execute(sql: "DROP TABLE IF EXISTS temp.staged_issuances") }
        return added
    }

    func recordGiveBacks(couponID: Int64, _ issuances: [Issuance], at now: Int64) async throws {
        guard !issuances.isEmpty else { return }
        try await store.write { try CouponBook.recordGiveBacks($0, couponID: couponID, issuances, at: now) }
    }

    func finishGiveBack(couponID: Int64, _ issuance: Issuance) async throws {
        try await store.write { try CouponBook.finishGiveBack($0, couponID: couponID, issuance) }
    }

    func pendingGiveBacks(couponID: Int64, limit: Int) async throws -> [Issuance] {
        try await store.read { try CouponBook.pendingGiveBacks($0, couponID: couponID, limit: limit) }
    }

    func holders(couponID: Int64, among users: [Int64]) async throws -> [Int64: Int64] {
        guard !users.isEmpty else { return [:] }
        return try await store.read { try CouponBook.holders($0, couponID: couponID, among: users) }
    }
}
