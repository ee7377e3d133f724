import JWTKit

/// The claims this service reads from a token, as jwt-kit's parser decodes them. `exp`, `iss` and `aud`
/// are checked by ``ClaimRequirements`` against the caller's clock and configuration, not here.
struct TokenClaims: JWTPayload {
    var sub: String
    var exp: Double
    var role: String?
    var iss: String?
    var aud: AudienceClaim?

    /// Nothing to check here: the algorithm is the key's, fixed when the key was loaded
    /// (``SigningKeys``), and the claims are checked by ``ClaimRequirements``.
    func verify(using algorithm: some JWTAlgorithm) {}
}

/// What a verified token's claims must say besides a valid signature (CONTRACT.md,
/// "Authentication"): a user id as `sub`, an `exp` still ahead, and the configured `iss` / `aud`.
struct ClaimRequirements: Sendable {
    var issuer: String?
    var audience: String?

    /// The identity the claims carry at `now` (seconds since the epoch), or why not.
    func identity(of claims: TokenClaims, now: Int64) throws(TokenRejection) -> Identity {
        guard let userID = Self.userID(claims.sub) else {
            throw TokenRejection("the token's `sub` must be a positive user id as a decimal string")
        }
        guard claims.exp > Double(now) else { throw TokenRejection("the token has expired") }
        if let issuer, claims.iss != issuer {
            throw TokenRejection("the token's `iss` must be \(issuer)")
        }
        if let audience, claims.aud?.value.contains(audience) != true {
            throw TokenRejection("the token's `aud` must include \(audience)")
        }
        return Identity(userID: userID, isAdmin: claims.role == "admin")
    }

    /// The claims of a token for `identity` that these requirements accept until `expiresAt`.
    func claims(for identity: Identity, expiresAt: Int64) -> TokenClaims {
        TokenClaims(sub: String(identity.userID), exp: Double(expiresAt), role: identity.isAdmin ? "admin" : nil,
                    iss: issuer, aud: audience.map { AudienceClaim(value: [$0]) })
    }

    /// Digits only (no sign, no spaces, no leading zero): one spelling per user.
    private static func userID(_ text: String) -> Int64? {
        guard let first = text.utf8.first, first != UInt8(ascii: "0"),
              text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
              let id = Int64(text)
        else { return nil }
        return id
    }
}
