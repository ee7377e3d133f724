import CommerceStore

struct SQLitePointStore: PointStore {
    let store: SQLiteStore

    func charge(userID: Int64, amount: Int64, at now: Int64,
                idempotency: IdempotencyRequest<PointBalance>?) async throws -> IdempotentResult<PointBalance> {
        try await store.idempotentWrite(userID: userID, at: now, idempotency) {
            try PointLedger.charge($0, userID: userID, amount: amount, at: now)
        }
    }

    func balance(userID: Int64) async throws -> PointBalance {
        try await store.read { try PointLedger.balance($0, userID: userID) }
    }

    func history(userID: Int64, limit: Int) async throws -> [PointEntry] {
        try await store.read { try PointLedger.history($0, userID: userID, limit: limit) }
    }
}
