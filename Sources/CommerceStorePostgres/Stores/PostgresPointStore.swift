import CommerceStore
import PostgresNIO

struct PostgresPointStore: PointStore {
    let store: PostgresStore

    func charge(userID: Int64, amount: Int64, at now: Int64,
                idempotency: IdempotencyRequest<PointBalance>?) async throws -> IdempotentResult<PointBalance> {
        try await store.idempotentTransaction(userID: userID, at: now, idempotency) {
            try await PostgresPoints.charge($0, userID: userID, amount: amount, at: now)
        }
    }

    func balance(userID: Int64) async throws -> PointBalance {
        try await store.connection { try await PostgresPoints.balance($0, userID: userID) }
    }

    func history(userID: Int64, limit: Int) async throws -> [PointEntry] {
        try await store.connection { connection in
            try await connection.rows("""
                SELECT id, kind, amount, balance_after, order_id, created_at FROM point_history
                WHERE user_id = \(userID) ORDER BY id DESC LIMIT \(Int64(limit))
                """).map { row in
                let (id, kind, amount, after, orderID, at) = try row.decode((Int64, String, Int64, Int64, Int64?, Int64).self)
                return PointEntry(id: id, kind: PointEntry.Kind(rawValue: kind) ?? .charge, amount: amount,
                                  balanceAfter: after, orderID: orderID, at: Timestamp(milliseconds: at))
            }
        }
    }
}

/// Point balances and their ledger: every change of a balance is one `point_history` entry in
/// the same transaction. Each function runs inside the caller's transaction.
enum PostgresPoints {
    static func charge(_ connection: PostgresConnection, userID: Int64, amount: Int64, at now: Int64) async throws -> PointBalance {
        try await ensureUser(connection, userID: userID, at: now)
        guard let balance = try await connection.value(Int64.self, """
            INSERT INTO user_point AS p (user_id, balance, updated_at) VALUES (\(userID), \(amount), \(now))
            ON CONFLICT (user_id) DO UPDATE SET balance = p.balance + excluded.balance, updated_at = excluded.updated_at
                WHERE p.balance + excluded.balance <= \(PointLimits.balance)
            RETURNING balance
            """) else {
            throw CommerceError.balanceLimitExceeded(userID: userID, charging: amount)
        }
        try await connection.run("""
            INSERT INTO point_history (user_id, kind, amount, balance_after, created_at)
            VALUES (\(userID), 'CHARGE', \(amount), \(balance), \(now))
            """)
        return PointBalance(userID: userID, balance: balance)
    }

    static func balance(_ connection: PostgresConnection, userID: Int64) async throws -> PointBalance {
        let balance = try await connection.value(Int64.self, "SELECT balance FROM user_point WHERE user_id = \(userID)")
        return PointBalance(userID: userID, balance: balance ?? 0)
    }

    /// Any positive id is a user; the row is created the first time one needs it.
    static func ensureUser(_ connection: PostgresConnection, userID: Int64, at now: Int64) async throws {
        try await connection.run("INSERT INTO users (id, created_at) VALUES (\(userID), \(now)) ON CONFLICT (id) DO NOTHING")
    }
}
