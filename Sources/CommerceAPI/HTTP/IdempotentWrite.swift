import CommerceCore
import CommerceStore
import FlatJSON
import Foundation
import HTTPTypes
import Hummingbird

/// The contract's `Idempotency-Key` on writes: the first response to a user's key is stored by
/// the store in the same transaction as the write itself, and a retry with the same key and the
/// same request gets that response again (4xx included) without anything changing twice.
enum IdempotentWrite {
    static let header = HTTPField.Name("Idempotency-Key")!
    /// Set on a response that is a replay of the stored first response.
    static let replayedHeader = HTTPField.Name("Idempotent-Replayed")!

    /// The store's idempotency request for this HTTP request: nil without a key; else the key
    /// (1 to 200 characters without control characters, else 400), the canonical form of
    /// `fingerprint`, and how to render what the write did as the response to store.
    static func request<Value: JSONWritable & Sendable>(
        _ request: Request, fingerprint: some Encodable, status: HTTPResponse.Status
    ) throws -> IdempotencyRequest<Value>? {
        guard let key = request.headers[header] else { return nil }
        guard Field.isPlainText(key) else {
            throw Problem.invalidRequest("`Idempotency-Key`: must be 1 to 200 characters, no control characters")
        }
        let canonical = String(decoding: try Self.canonical.encode(fingerprint), as: UTF8.self)
        return IdempotencyRequest(key: key, fingerprint: canonical) { result in
            switch result {
            case .success(let value):
                return StoredResponse(status: Int(status.code), body: JSONWriter.encode(value))
            case .failure(let refusal):
                let problem = Problem(refusal)
                return StoredResponse(status: Int(problem.status.code), body: problem.body())
            }
        }
    }

    /// The HTTP answer for how the write ended: `status` with the value, the stored response
    /// (a replay says so in ``replayedHeader``); a refusal without a key is thrown.
    static func response<Value: JSONWritable & Sendable>(_ result: IdempotentResult<Value>, status: HTTPResponse.Status) throws -> Response {
        switch result {
        case .done(.success(let value)):
            return JSONResponse.response(status: status, value)
        case .done(.failure(let refusal)):
            throw refusal
        case .stored(_, let stored):
            return JSONResponse.response(status: .init(code: stored.status), bytes: stored.body)
        case .replayed(let stored):
            return JSONResponse.response(status: .init(code: stored.status), bytes: stored.body, headers: [replayedHeader: "true"])
        }
    }

    /// Requests compared by content: sorted keys, so the same request always gives the same text.
    private static var canonical: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }
}
