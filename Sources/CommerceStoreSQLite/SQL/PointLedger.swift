import CommerceStore
import GRDB

/// Point balances and their ledger: every change of a balance is one `point_history` entry
/// written in the same transaction as the change.
enum PointLedger {
    /// Adds `amount` to the user's balance (creating user and balance on first charge) and
    /// records a `CHARGE` entry. `BALANCE_LIMIT_EXCEEDED` if the balance would pass the limit.
    static func charge(_ db: Database, userID: Int64, amount: Int64, at now: Int64) throws -> PointBalance {
        try ensureUser(db, userID: userID, at: now)
        let statement = try db.cachedStatement(sql: """
            INSERT INTO user_point (user_id, balance, updated_at) VALUES (?1, ?2, ?3)
            ON CONFLICT (user_id) DO UPDATE SET balance = balance + ?2, updated_at = ?3
                WHERE balance + ?2 <= ?4
            RETURNING balance
            """)
        guard let balance = try Int64.fetchOne(statement, arguments: [userID, amount, now, PointLimits.balance]) else {
            throw CommerceError.balanceLimitExceeded(userID: userID, charging: amount)
        }
        try record(db, userID: userID, kind: .charge, amount: amount, balanceAfter: balance, orderID: nil, at: now)
        return PointBalance(userID: userID, balance: balance)
    }

    /// Takes `amount` (> 0) from the balance for an order; returns the balance after, or nil
    /// when the balance is smaller (or the user has none). The caller records the `USE` entry
    /// with ``recordUse(_:userID:amount:balanceAfter:orderID:at:)`` once the order row exists,
    /// in the same transaction.
    static func debit(_ db: Database, userID: Int64, amount: Int64, at now: Int64) throws -> Int64? {
        let statement = try db.cachedStatement(sql: """
            UPDATE user_point SET balance = balance - ?1, updated_at = ?2 WHERE user_id = ?3 AND balance >= ?1
            RETURNING balance
            """)
        return try Int64.fetchOne(statement, arguments: [amount, now, userID])
    }

    static func recordUse(_ db: Database, userID: Int64, amount: Int64, balanceAfter: Int64, orderID: Int64, at now: Int64) throws {
        try record(db, userID: userID, kind: .use, amount: -amount, balanceAfter: balanceAfter, orderID: orderID, at: now)
    }

    /// The user's balance; 0 for a user who never charged.
    static func balance(_ db: Database, userID: Int64) throws -> PointBalance {
        let statement = try db.cachedStatement(sql: "SELECT balance FROM user_point WHERE user_id = ?")
        return PointBalance(userID: userID, balance: try Int64.fetchOne(statement, arguments: [userID]) ?? 0)
    }

    /// The user's latest `limit` ledger entries, newest first.
    static func history(_ db: Database, userID: Int64, limit: Int) throws -> [PointEntry] {
        try Row.fetchAll(db, sql: """
            SELECT id, kind, amount, balance_after, order_id, created_at FROM point_history
            WHERE user_id = ? ORDER BY id DESC LIMIT ?
            """, arguments: [userID, limit]).map { row in
            PointEntry(id: row[0], kind: PointEntry.Kind(rawValue: row[1]) ?? .charge, amount: row[2],
                       balanceAfter: row[3], orderID: row[4], at: Timestamp(milliseconds: row[5]))
        }
    }

    /// Any positive id is a user; the row is created the first time one needs it.
    static func ensureUser(_ db: Database, userID: Int64, at now: Int64) throws {
        let statement = try db.cachedStatement(sql: "INSERT OR IGNORE INTO users (id, created_at) VALUES (?, ?)")
        try statement.execute(arguments: [userID, now])
    }

    private static func record(
        _ db: Database, userID: Int64, kind: PointEntry.Kind, amount: Int64, balanceAfter: Int64, orderID: Int64?,
        at now: Int64
    ) throws {
        let statement = try db.cachedStatement(sql: """
            INSERT INTO point_history (user_id, kind, amount, balance_after, order_id, created_at)
            VALUES (?, ?, ?, ?, ?, ?)
            """)
        try statement.execute(arguments: [userID, kind.rawValue, amount, balanceAfter, orderID, now])
    }
}
