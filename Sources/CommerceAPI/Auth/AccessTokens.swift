import Crypto
import Foundation

/// Who a request acts for: the user of its bearer token, and whether the token is an admin's.
public struct Identity: Sendable, Equatable {
    public let userID: Int64
    public let isAdmin: Bool

    public init(userID: Int64, isAdmin: Bool) {
        self.userID = userID
        self.isAdmin = isAdmin
    }

    /// Whether this identity may act for `userID`: its own user, or anyone for an admin.
    public func mayActFor(_ userID: Int64) -> Bool { isAdmin || self.userID == userID }
}

/// Why a bearer token was refused (for the 401's `detail` and the log; never the secret).
public struct TokenRejection: Error, Sendable, Equatable, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
}

/// HS256 JSON Web Tokens as the contract describes them: `sub` is the user id as a decimal
/// string, `exp` (seconds since the epoch) is required, and admin tokens carry `role: "admin"`.
///
/// Only HS256 is accepted: the algorithm is the server's choice, never the token's, so `none`
/// and every other `alg` are refused before the signature is looked at.
public struct AccessTokens: Sendable {
    /// Secrets shorter than this are refused: HS256 wants a key of at least 256 bits (RFC 7518 §3.2).
    public static let minimumSecretLength = 32

    private let key: SymmetricKey

    /// - Throws: ``TokenRejection`` when the secret is shorter than ``minimumSecretLength`` bytes.
    public init(secret: String) throws(TokenRejection) {
        guard secret.utf8.count >= Self.minimumSecretLength else {
            throw TokenRejection(reason: "the JWT secret must be at least \(Self.minimumSecretLength) bytes (e.g. `openssl rand -hex 32`)")
        }
        key = SymmetricKey(data: Array(secret.utf8))
    }

    /// A signed token for `identity`, valid until `expiresAt` (seconds since the epoch).
    public func sign(_ identity: Identity, expiresAt: Int64) -> String {
        let header = Base64URL.encode(Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8))
        let role = identity.isAdmin ? #","role":"admin""# : ""
        let claims = Base64URL.encode(Array(#"{"sub":"\#(identity.userID)","exp":\#(expiresAt)\#(role)}"#.utf8))
        let signingInput = header + "." + claims
        let signature = HMAC<SHA256>.authenticationCode(for: Array(signingInput.utf8), using: key)
        return signingInput + "." + Base64URL.encode(Array(signature))
    }

    /// The identity `token` carries, if it is well formed, signed with this secret by HS256 and
    /// not expired at `now` (seconds since the epoch).
    public func verify(_ token: Substring, now: Int64) throws(TokenRejection) -> Identity {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
              let headerBytes = Base64URL.decode(parts[0]),
              let claimsBytes = Base64URL.decode(parts[1]),
              let signature = Base64URL.decode(parts[2])
        else { throw TokenRejection(reason: "the bearer token is not a JWT") }
        guard let header = try? JSONDecoder().decode(Header.self, from: Data(headerBytes)) else {
            throw TokenRejection(reason: "the token's header is not valid JSON")
        }
        guard header.alg == "HS256" else {
            throw TokenRejection(reason: "the token's algorithm must be HS256, not \(header.alg)")
        }
        let signingInput = token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count)
        guard HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: Array(signingInput), using: key) else {
            throw TokenRejection(reason: "the token's signature is not valid")
        }
        guard let claims = try? JSONDecoder().decode(Claims.self, from: Data(claimsBytes)) else {
            throw TokenRejection(reason: "the token's claims need `sub` (a string) and `exp` (a number)")
        }
        guard let userID = Self.userID(claims.sub) else {
            throw TokenRejection(reason: "the token's `sub` must be a positive user id as a decimal string")
        }
        guard claims.exp > Double(now) else { throw TokenRejection(reason: "the token has expired") }
        return Identity(userID: userID, isAdmin: claims.role == "admin")
    }

    private struct Header: Decodable { var alg: String }

    private struct Claims: Decodable {
        var sub: String
        var exp: Double
        var role: String?
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

/// Base64 with the URL alphabet and no padding, as JWTs spell their parts (RFC 7515 §2).
enum Base64URL {
    static func encode(_ bytes: [UInt8]) -> String {
        var text = Data(bytes).base64EncodedString()
        text = text.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        while text.last == "=" { text.removeLast() }
        return text
    }

    static func decode(_ text: Substring) -> [UInt8]? {
        guard !text.contains("="), !text.contains("+"), !text.contains("/") else { return nil }
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        standard += String(repeating: "=", count: (4 - standard.utf8.count % 4) % 4)
        return Data(base64Encoded: standard).map { Array($0) }
    }
}
