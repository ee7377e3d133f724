import BearerTokens
import Crypto
import Foundation

/// The secret every test server verifies tokens with, and tokens signed with it — by the tests'
/// own JWT code below, not the server's, so the two check each other.
enum TestTokens {
    static let secret = "test-secret-of-at-least-thirty-two-bytes"
    /// An admin token valid for an hour: what requests carry unless a test says otherwise.
    static let admin = token(user: 1, admin: true)

    static func token(user: Int64, admin: Bool = false, expiresIn seconds: Int64 = 3600) -> String {
        let role = admin ? #","role":"admin""# : ""
        let claims = #"{"sub":"\#(user)","exp":\#(Int64(Date().timeIntervalSince1970) + seconds)\#(role)}"#
        return jwt(header: #"{"alg":"HS256","typ":"JWT"}"#, claims: claims, sign: hs256(secret))
    }

    /// What the test servers verify with: the secret, no key set.
    static func verifier() async throws -> AccessTokens { try await AccessTokens(secret: secret) }

    /// A JWT with any header and claims, signed by `sign` over `header.claims`.
    static func jwt(header: String, claims: String, sign: ([UInt8]) throws -> [UInt8]) rethrows -> String {
        let input = base64URL(Array(header.utf8)) + "." + base64URL(Array(claims.utf8))
        return input + "." + base64URL(try sign(Array(input.utf8)))
    }

    static func hs256(_ secret: String) -> ([UInt8]) -> [UInt8] {
        { Array(HMAC<SHA256>.authenticationCode(for: $0, using: SymmetricKey(data: Array(secret.utf8)))) }
    }

    /// Base64 with the URL alphabet and no padding, as JWTs spell their parts (RFC 7515 §2).
    static func base64URL(_ bytes: some Sequence<UInt8>) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static var inAnHour: Int64 { Int64(Date().timeIntervalSince1970) + 3600 }
}
