import Foundation
import JWTKit
import Logging

/// The keys tokens may be signed with, as jwt-kit algorithms: the server's HS256 secret (for
/// tokens without a `kid`) and an identity provider's keys by `kid`.
///
/// Verification is jwt-kit's parser and algorithms called directly, not its `JWTKeyCollection`:
/// the collection is an actor whose verify hops to it and off it again for every token, and a
/// token without a `kid` (or with one it does not know) falls back to its default key; here a
/// `kid` must name a key of the set, and only a token without one goes to the secret. Every key
/// checks with HS256, RS256 or ES256 only, fixed when it is loaded, never chosen by a token.
struct SigningKeys: Sendable {
    private let secret: (any JWTAlgorithm)?
    private let byKid: [String: any JWTAlgorithm]
    /// The keys as jwt-kit holds them, the secret as its default: what signs.
    private let collection = JWTKeyCollection()
    private static let parser = DefaultJWTParser(jsonDecoder: FlatJWTJSONDecoder())

    /// The secret's key and the usable keys of `keySet` (read now; the keys left out are logged).
    init(secret: HMACKey?, keySet: KeySetFile?, logger: Logger?) async throws(TokenRejection) {
        if let secret {
            await collection.add(hmac: secret, digestAlgorithm: .sha256)
            do { self.secret = try await collection.getKey() } catch { throw TokenRejection("the JWT secret cannot be used: \(error)") }
        } else {
            self.secret = nil
        }
        var byKid: [String: any JWTAlgorithm] = [:]
        let (keys, skipped) = try keySet?.read() ?? ([], [])
        if let keySet, !skipped.isEmpty {
            logger?.warning("key set: keys left out", metadata: ["path": "\(keySet.path)", "skipped": "\(skipped)"])
        }
        for key in keys {
            guard let kid = key.keyIdentifier else { continue }
            do {
                try await collection.add(jwk: key, isDefault: false)
                // A key without an `alg` of its own would take the token's: pin it to the one
                // algorithm its type may sign with here (KeySetFile took no key declaring another).
                byKid[kid.string] = try await collection.getKey(for: kid, alg: (key.algorithm ?? (key.keyType == .rsa ? .rs256 : .es256)).rawValue)
            } catch {
                throw TokenRejection("the key set \(keySet?.path ?? "") has a key jwt-kit cannot use (kid \(kid.string)): \(error)")
            }
        }
        self.byKid = byKid
    }

    /// The claims of `token` if one of these keys signed it; the claims' own checks are the caller's.
    func verify(_ token: [UInt8]) throws(TokenRejection) -> TokenClaims {
        let header: JWTHeader
        let claims: TokenClaims
        let signature: Data
        do {
            (header, claims, signature) = try Self.parser.parse(token, as: TokenClaims.self)
        } catch {
            throw TokenRejection("the token is not a JWT with `sub` (a string) and `exp` (a number)")
        }
        let key = if let kid = header.kid { byKid[kid] } else { secret }
        guard let key else { throw TokenRejection("the token names no key this server trusts (`kid`)") }
        // The signature covers `header.payload`, everything before the last period.
        guard let period = token.lastIndex(of: UInt8(ascii: ".")),
              (try? key.verify(signature, signs: token[..<period])) == true
        else { throw TokenRejection("the token's signature is not valid") }
        return claims
    }

    /// A token with `claims`, signed with the secret.
    /// - Throws: without a secret (there is no default key then).
    func sign(_ claims: TokenClaims) async throws -> String {
        try await collection.sign(claims)
    }
}
