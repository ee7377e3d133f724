/// A response as first sent under an `Idempotency-Key`: status and body bytes. The store keeps
/// it without knowing what it says; the API renders it.
public struct StoredResponse: Sendable, Hashable {
    public var status: Int
    public var body: [UInt8]

    public init(status: Int, body: [UInt8]) {
        self.status = status
        self.body = body
    }
}

/// A write that carries the user's `Idempotency-Key`: its answer is stored in the same
/// transaction as the write, so a crash cannot keep one without the other.
public struct IdempotencyRequest<Value: Sendable>: Sendable {
    /// The client's key (1 to 200 code points), scoped to the user.
    public var key: String
    /// Identifies the request the key was first used for: the same key with another fingerprint
    /// is refused with `IDEMPOTENCY_KEY_REUSED`.
    public var fingerprint: String
    /// The response to store for what the write did (a value, or a business refusal). Called
    /// inside the write's transaction: keep it quick.
    public var render: @Sendable (Result<Value, CommerceError>) -> StoredResponse

    public init(key: String, fingerprint: String, render: @escaping @Sendable (Result<Value, CommerceError>) -> StoredResponse) {
        self.key = key
        self.fingerprint = fingerprint
        self.render = render
    }
}

/// How an idempotent write ended.
public enum IdempotentResult<Value: Sendable>: Sendable {
    /// Without a key: what the write did (a refusal changed nothing).
    case done(Result<Value, CommerceError>)
    /// With a key, the first time: what the write did, and the response stored for it.
    case stored(Result<Value, CommerceError>, StoredResponse)
    /// With a key used before for the same request: the stored response; nothing ran.
    case replayed(StoredResponse)
}

/// Remembered responses for `Idempotency-Key` retries.
public protocol IdempotencyKeyStore: Sendable {
    /// Forgets the responses stored before `cutoff` (ms since the epoch); returns how many.
    func forget(before cutoff: Int64) async throws -> Int
}

extension IdempotentResult {
    /// How a write without a key ended: ``done(_:)`` with its value, or with the business refusal
    /// it threw; any other error is thrown.
    public static func running(_ write: () async throws -> Value) async throws -> IdempotentResult {
        do {
            return .done(.success(try await write()))
        } catch let refusal as CommerceError {
            return .done(.failure(refusal))
        }
    }
}
