import Foundation
import JWTKit
import Logging
import Synchronization

/// Bearer tokens as CONTRACT.md ("Authentication") describes them: HS256 with the server's
/// secret, and RS256 / ES256 signed by a key of an identity provider's key set, the key chosen
/// by the token's `kid`; claims `sub`, `exp` and `role`, and `iss` / `aud` when configured.
///
/// Parsing and signatures are jwt-kit's (``SigningKeys``). Which algorithm checks a token is the
/// key's choice, never the token's: HS256 only with the secret (never with only a key set),
/// RS256 / ES256 only with a key-set key, and `none` never.
public final class AccessTokens: Sendable {
    /// Secrets shorter than this are refused: HS256 wants a key of at least 256 bits (RFC 7518 §3.2).
    public static let minimumSecretLength = 32

    private let secret: HMACKey?
    private let keySet: KeySetFile?
    private let requirements: ClaimRequirements
    /// The keys that verify, replaced whole when the key set file changes.
    private let keys: Mutex<(keys: SigningKeys, keySetStamp: KeySetFile.Stamp?)>
    /// Tokens that passed, until they expire: a client sends the same token with request after
    /// request, and a lookup costs a fraction of a verification.
    private let verified = VerifiedTokens(capacity: 10_000)

    /// - Parameters:
    ///   - secret: the HS256 secret (at least ``minimumSecretLength`` bytes), or nil.
    ///   - keySet: the identity provider's key set, or nil; read now, and again by
    ///     ``reloadKeySetIfChanged(logger:)``.
    ///   - issuer, audience: when set, tokens must carry this `iss` / include this `aud`.
    /// - Throws: ``TokenRejection`` for a short secret, neither a secret nor a key set, or a
    ///   key set that cannot be read or has no usable key.
    public init(secret: String? = nil, keySet: KeySetFile? = nil, issuer: String? = nil, audience: String? = nil,
                logger: Logger? = nil) async throws(TokenRejection) {
        if let secret, secret.utf8.count < Self.minimumSecretLength {
            throw TokenRejection("the JWT secret must be at least \(Self.minimumSecretLength) bytes (e.g. `openssl rand -hex 32`)")
        }
        guard secret != nil || keySet != nil else { throw TokenRejection("tokens need a JWT secret or a key set") }
        self.secret = secret.map { HMACKey(from: $0) }
        self.keySet = keySet
        requirements = ClaimRequirements(issuer: issuer, audience: audience)
        let stamp = keySet?.stamp()
        keys = Mutex((try await SigningKeys(secret: self.secret, keySet: keySet, logger: logger), stamp))
    }

    /// Whether there is a key set file to watch.
    public var hasKeySet: Bool { keySet != nil }

    /// Re-reads the key set when its file changed since the last read; the new keys replace the
    /// old ones and the verified tokens are forgotten (a key taken out of the set must stop its
    /// tokens). A file that cannot be read or used keeps the old keys, logged once per version.
    public func reloadKeySetIfChanged(logger: Logger) async {
        guard let keySet else { return }
        let stamp = keySet.stamp()
        guard keys.withLock({ $0.keySetStamp }) != stamp else { return }
        do {
            let signingKeys = try await SigningKeys(secret: secret, keySet: keySet, logger: logger)
            keys.withLock { $0 = (signingKeys, stamp) }
            verified.forgetAll()
            logger.notice("key set re-read", metadata: ["path": "\(keySet.path)"])
        } catch {
            keys.withLock { $0.keySetStamp = stamp }
            logger.error("key set changed but cannot be used; keeping the previous keys",
                         metadata: ["path": "\(keySet.path)", "reason": "\(error.reason)"])
        }
    }

    /// The identity `token` carries, if a trusted key signed it and its claims hold at `now`
    /// (seconds since the epoch).
    public func verify(_ token: Substring, now: Int64) throws(TokenRejection) -> Identity {
        let text = String(token)
        if let known = verified.identity(for: text, now: now) { return known }
        let generation = verified.generation
        let claims = try keys.withLock { $0.keys }.verify(Array(text.utf8))
        let identity = try requirements.identity(of: claims, now: now)
        verified.remember(text, identity, expiresAt: claims.exp, generation: generation)
        return identity
    }

    /// An HS256 token for `identity`, valid until `expiresAt` (seconds since the epoch), with the
    /// configured `iss` / `aud`.
    /// - Throws: ``TokenRejection`` without a secret.
    public func sign(_ identity: Identity, expiresAt: Int64) async throws(TokenRejection) -> String {
        guard secret != nil else { throw TokenRejection("no JWT secret to sign with") }
        do {
            return try await keys.withLock { $0.keys }.sign(requirements.claims(for: identity, expiresAt: expiresAt))
        } catch {
            throw TokenRejection("the token could not be signed: \(error)")
        }
    }
}

/// Verified tokens and when they expire, at most `capacity` of them (then it starts over: a
/// miss only costs a verification). A token verified before the keys changed is not
/// remembered after: each verification names the generation it started in.
private final class VerifiedTokens: Sendable {
    private let capacity: Int
    private let state = Mutex<(generation: Int, entries: [String: (identity: Identity, expiresAt: Double)])>((0, [:]))

    init(capacity: Int) { self.capacity = capacity }

    var generation: Int { state.withLock { $0.generation } }

    func identity(for token: String, now: Int64) -> Identity? {
        guard let entry = state.withLock({ $0.entries[token] }), entry.expiresAt > Double(now) else { return nil }
        return entry.identity
    }

    func remember(_ token: String, _ identity: Identity, expiresAt: Double, generation: Int) {
        state.withLock { state in
            guard state.generation == generation else { return }
            if state.entries.count >= capacity { state.entries.removeAll(keepingCapacity: true) }
            state.entries[token] = (identity, expiresAt)
        }
    }

    func forgetAll() {
        state.withLock { state in
            state.generation += 1
            state.entries.removeAll()
        }
    }
}
