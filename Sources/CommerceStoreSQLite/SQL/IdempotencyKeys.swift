import Foundation
import CommerceStore
import GRDB

/// Remembered responses for `Idempotency-Key` retries, stored in the same transaction as the
/// write they answer, so a crash cannot keep one without the other.
enum IdempotencyKeys {
    /// What the user's key answered before, with the fingerprint of the request it answered.
    static func find(_ db: Database, userID: Int64, key: String) throws -> (fingerprint: String, response: StoredResponse)? {
        let statement = try db.cachedStatement(sql: """
            SELECT request_hash, response_status, response_body FROM idempotency_keys WHERE user_id = ? AND key = ?
            """)
        return try Row.fetchOne(statement, arguments: [userID, key]).map { row in
            (row[0], StoredResponse(status: row[1], body: [UInt8](row[2] as Data)))
        }
    }

    /// Remembers `response` for the user's key. `fingerprint` identifies the request (stored in
    /// the `request_hash` column; callers pass a canonical form of the request).
    static func remember(
        _ db: Database, userID: Int64, key: String, fingerprint: String, response: StoredResponse, at now: Int64
    ) throws {
        try db.cachedStatement(sql: """
            INSERT INTO idempotency_keys (user_id, key, request_hash, response_status, response_body, created_at)
            VALUES (?, ?, ?, ?, ?, ?)
            """).execute(arguments: [userID, key, fingerprint, response.status, Data(response.body), now])
    }

    /// Forgets keys stored before `cutoff`; returns how many.
    static func forget(_ db: Database, before cutoff: Int64) throws -> Int {
        try db.execute(sql: "DELETE FROM idempotency_keys WHERE created_at < ?", arguments: [cutoff])
        return db.changesCount
    }
}
