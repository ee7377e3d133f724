import CommerceStore
import GRDB

extension SQLiteStore {
    /// Runs `operation` through the group-commit writer, honouring `idempotency`: a response
    /// stored under the user's key is returned instead when its fingerprint matches
    /// (`IDEMPOTENCY_KEY_REUSED` when it does not); otherwise `operation` runs in its own
    /// savepoint and the response rendered from what it did — value or refusal — is stored with
    /// it, in the same transaction. The single writer serialises two requests with one key.
    func idempotentWrite<Value: Sendable>(
        userID: Int64, at now: Int64, _ idempotency: IdempotencyRequest<Value>?,
        _ operation: @escaping @Sendable (Database) throws -> Value
    ) async throws -> IdempotentResult<Value> {
        guard let idempotency else { return try await .running { try await write(operation) } }
        return try await write { db in
            if let previous = try IdempotencyKeys.find(db, userID: userID, key: idempotency.key) {
                guard previous.fingerprint == idempotency.fingerprint else {
                    throw CommerceError.idempotencyKeyReused(idempotency.key)
                }
                return .replayed(previous.response)
            }
            let result: Result<Value, CommerceError>
            do {
                result = .success(try db.withSavepoint { try operation(db) })
            } catch let refusal as CommerceError {
                result = .failure(refusal)
            }
            let stored = idempotency.render(result)
            try IdempotencyKeys.remember(db, userID: userID, key: idempotency.key, fingerprint: idempotency.fingerprint,
                                         response: stored, at: now)
            return .stored(result, stored)
        }
    }
}

struct SQLiteIdempotencyKeyStore: IdempotencyKeyStore {
    let store: SQLiteStore

    func forget(before cutoff: Int64) async throws -> Int {
        try await store.write { try IdempotencyKeys.forget($0, before: cutoff) }
    }
}
