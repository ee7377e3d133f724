import CommerceStore
import NIOCore
import PostgresNIO

extension PostgresStore {
    /// Runs `operation` in one transaction, honouring `idempotency` across every process that
    /// shares the database: the key's row is claimed first (`INSERT ... ON CONFLICT DO NOTHING`),
    /// so a second request with the same key waits on the first one's row lock and, once that
    /// committed, replays its stored response (`IDEMPOTENCY_KEY_REUSED` for another fingerprint).
    /// A refusal rolls back to a savepoint, keeping the claimed key, whose response is then stored.
    func idempotentTransaction<Value: Sendable>(
        userID: Int64, at now: Int64, _ idempotency: IdempotencyRequest<Value>?,
        _ operation: @escaping @Sendable (PostgresConnection) async throws -> Value
    ) async throws -> IdempotentResult<Value> {
        guard let idempotency else { return try await .running { try await transaction(operation) } }
        return try await transaction { connection in
            let claimed = try await connection.rows("""
                INSERT INTO idempotency_keys (user_id, key, request_hash, response_status, response_body, created_at)
                VALUES (\(userID), \(idempotency.key), \(idempotency.fingerprint), 0, '', \(now))
                ON CONFLICT (user_id, key) DO NOTHING RETURNING 1
                """)
            guard !claimed.isEmpty else {
                return try await Self.replay(connection, userID: userID, idempotency)
            }
            let result: Result<Value, CommerceError>
            try await connection.run("SAVEPOINT request")
            do {
                result = .success(try await operation(connection))
            } catch let refusal as CommerceError {
                try await connection.run("ROLLBACK TO SAVEPOINT request")
                result = .failure(refusal)
            }
            let stored = idempotency.render(result)
            try await connection.run("""
                UPDATE idempotency_keys SET response_status = \(Int64(stored.status)), response_body = \(ByteBuffer(bytes: stored.body))
                WHERE user_id = \(userID) AND key = \(idempotency.key)
                """)
            return .stored(result, stored)
        }
    }

    /// The response stored under the key by the request that claimed it.
    private static func replay<Value>(
        _ connection: PostgresConnection, userID: Int64, _ idempotency: IdempotencyRequest<Value>
    ) async throws -> IdempotentResult<Value> {
        guard let row = try await connection.rows("""
            SELECT request_hash, response_status, response_body FROM idempotency_keys
            WHERE user_id = \(userID) AND key = \(idempotency.key)
            """).first else {
            // Claimed, then forgotten by the pruner in between: rare enough to ask for a retry.
            throw StoreError(.unavailable, "Idempotency-Key \(idempotency.key) changed hands; retry")
        }
        let (fingerprint, status, body) = try row.decode((String, Int64, ByteBuffer).self)
        guard fingerprint == idempotency.fingerprint else {
            throw CommerceError.idempotencyKeyReused(idempotency.key)
        }
        return .replayed(StoredResponse(status: Int(status), body: Array(body.readableBytesView)))
    }
}

struct PostgresIdempotencyKeyStore: IdempotencyKeyStore {
    let store: PostgresStore

    func forget(before cutoff: Int64) async throws -> Int {
        try await store.connection { connection in
            try await connection.rows("DELETE FROM idempotency_keys WHERE created_at < \(cutoff) RETURNING 1").count
        }
    }
}
