import CommerceStore
import Foundation
import GRDB
import HTTPTypes
import Hummingbird

/// A write that honours the contract's `Idempotency-Key`: the first response to a user's key is
/// stored in the same transaction as the write itself, and a retry with the same key and the
/// same request gets that response again (4xx included) without anything changing twice.
struct IdempotentWrite {
    static let header = HTTPField.Name("Idempotency-Key")!
    /// Set on a response that is a replay of the stored first response.
    static let replayedHeader = HTTPField.Name("Idempotent-Replayed")!

    let database: CommerceDatabase
    let now: @Sendable () -> Int64

    /// The request's key: absent, or 1 to 200 characters without control characters (else 400).
    static func key(of request: Request) throws -> String? {
        guard let key = request.headers[header] else { return nil }
        guard Field.isPlainText(key) else {
            throw Problem.invalidRequest("`Idempotency-Key`: must be 1 to 200 characters, no control characters")
        }
        return key
    }

    /// Runs `operation` through the group-commit writer and answers `status` with its result.
    ///
    /// With a key: a stored response for (user, key) is returned instead when `fingerprint`
    /// matches (409 `IDEMPOTENCY_KEY_REUSED` when it does not); otherwise `operation` runs in its
    /// own savepoint and its response — success or business-rule failure — is remembered with it.
    func perform<Value: JSONWritable & Sendable>(
        key: String?, userID: Int64, fingerprint: some Encodable, status: HTTPResponse.Status,
        _ operation: @escaping @Sendable (Database) throws -> Value
    ) async throws -> Response {
        guard let key else {
            return JSONResponse.response(status: status, try await database.write(operation))
        }
        let fingerprint = String(decoding: try Self.canonical.encode(fingerprint), as: UTF8.self)
        let storedAt = now()
        let (stored, replayed) = try await database.write { db -> (IdempotencyKeys.StoredResponse, replayed: Bool) in
            if let previous = try IdempotencyKeys.find(db, userID: userID, key: key) {
                guard previous.fingerprint == fingerprint else {
                    throw CommerceError(.idempotencyKeyReused,
                                        "Idempotency-Key \(key) was used by this user for a different request")
                }
                return (previous.response, true)
            }
            let stored: IdempotencyKeys.StoredResponse
            do {
                let value = try db.withSavepoint { try operation(db) }
                stored = .init(status: Int(status.code), body: JSONWriter.encode(value))
            } catch let error as CommerceError {
                let problem = Problem(error)
                stored = .init(status: Int(problem.status.code), body: problem.body())
            }
            try IdempotencyKeys.remember(db, userID: userID, key: key, fingerprint: fingerprint, response: stored, at: storedAt)
            return (stored, false)
        }
        let headers: HTTPFields = replayed ? [Self.replayedHeader: "true"] : [:]
        return JSONResponse.response(status: .init(code: stored.status), bytes: stored.body, headers: headers)
    }

    /// Requests compared by content: sorted keys, so the same request always gives the same text.
    private static var canonical: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }
}
