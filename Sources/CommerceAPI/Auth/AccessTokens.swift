import Crypto
import Foundation
import Synchronization

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

    /// HMAC keyed with the secret, copied per token: keying hashes the secret's pads, the same
    /// work for every token (hash states are values, so each copy goes its own way).
    private let keyedHMAC: HMAC<SHA256>

    /// - Throws: ``TokenRejection`` when the secret is shorter than ``minimumSecretLength`` bytes.
    public init(secret: String) throws(TokenRejection) {
        guard secret.utf8.count >= Self.minimumSecretLength else {
            throw TokenRejection(reason: "the JWT secret must be at least \(Self.minimumSecretLength) bytes (e.g. `openssl rand -hex 32`)")
        }
        keyedHMAC = HMAC<SHA256>(key: SymmetricKey(data: Array(secret.utf8)))
    }

    private func signature(of input: some Sequence<UInt8>) -> HMAC<SHA256>.MAC {
        var hmac = keyedHMAC
        hmac.update(data: Array(input))
        return hmac.finalize()
    }

    /// A signed token for `identity`, valid until `expiresAt` (seconds since the epoch).
    public func sign(_ identity: Identity, expiresAt: Int64) -> String {
        let header = Base64URL.encode(Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8))
        let role = identity.isAdmin ? #","role":"admin""# : ""
        let claims = Base64URL.encode(Array(#"{"sub":"\#(identity.userID)","exp":\#(expiresAt)\#(role)}"#.utf8))
        let signingInput = header + "." + claims
        return signingInput + "." + Base64URL.encode(Array(signature(of: signingInput.utf8)))
    }

    /// The identity `token` carries, if it is well formed, signed with this secret by HS256 and
    /// not expired at `now` (seconds since the epoch).
    public func verify(_ token: Substring, now: Int64) throws(TokenRejection) -> Identity {
        let key = String(token)
        if let known = verified.identity(for: key, now: now) { return known }
        let (identity, expiresAt) = try verifySignatureAndClaims(token, now: now)
        verified.remember(key, identity, expiresAt: expiresAt)
        return identity
    }

    /// Tokens that passed, until they expire: a client sends the same token with request after
    /// request, and a lookup costs a fraction of the HMAC and parsing.
    private let verified = VerifiedTokens(capacity: 10_000)

    private func verifySignatureAndClaims(_ token: Substring, now: Int64) throws(TokenRejection) -> (Identity, expiresAt: Double) {
        let utf8 = token.utf8
        guard let firstDot = utf8.firstIndex(of: UInt8(ascii: ".")),
              let secondDot = utf8[utf8.index(after: firstDot)...].firstIndex(of: UInt8(ascii: ".")),
              let headerBytes = Base64URL.decode(token[..<firstDot]),
              let claimsBytes = Base64URL.decode(token[token.index(after: firstDot)..<secondDot]),
              let sentSignature = Base64URL.decode(token[token.index(after: secondDot)...])
        else { throw TokenRejection(reason: "the bearer token is not a JWT") }
        guard let header = Self.decode(Header.self, headerBytes) else {
            throw TokenRejection(reason: "the token's header is not valid JSON with an `alg`")
        }
        guard header.alg == "HS256" else {
            throw TokenRejection(reason: "the token's algorithm must be HS256, not \(header.alg)")
        }
        // `==` on a MAC compares in constant time.
        guard signature(of: utf8[..<secondDot]) == sentSignature else {
            throw TokenRejection(reason: "the token's signature is not valid")
        }
        guard let claims = Self.decode(Claims.self, claimsBytes) else {
            throw TokenRejection(reason: "the token's claims need `sub` (a string) and `exp` (a number)")
        }
        guard let userID = Self.userID(claims.sub) else {
            throw TokenRejection(reason: "the token's `sub` must be a positive user id as a decimal string")
        }
        guard claims.exp > Double(now) else { throw TokenRejection(reason: "the token has expired") }
        return (Identity(userID: userID, isAdmin: claims.role == "admin"), claims.exp)
    }

    private struct Header: JWTPart {
        var alg: String

        init?(_ object: FlatJSONObject) {
            guard let alg = object.string("alg") else { return nil }
            self.alg = alg
        }
    }

    private struct Claims: JWTPart {
        var sub: String
        var exp: Double
        var role: String?

        init?(_ object: FlatJSONObject) {
            // A `role` that is not a plain string is left to the full decoder, which refuses it.
            guard let sub = object.string("sub"), let exp = object["exp"],
                  object.string("role") != nil || !object.contains("role")
            else { return nil }
            (self.sub, self.exp, self.role) = (sub, Double(exp), object.string("role"))
        }
    }

    /// A header or claims object: read by ``FlatJSONObject`` when it is the usual flat one
    /// (every request pays for this, and `JSONDecoder` was a third of a refused coupon
    /// request's CPU), else by `JSONDecoder` (nested claims, fractional `exp`, escapes).
    private static func decode<Part: JWTPart>(_ type: Part.Type, _ bytes: [UInt8]) -> Part? {
        if let object = FlatJSONObject(bytes), let part = Part(object) { return part }
        return try? JSONDecoder().decode(Part.self, from: Data(bytes))
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

/// Verified tokens and when they expire, at most `capacity` of them (then it starts over: a
/// miss only costs a verification).
private final class VerifiedTokens: Sendable {
    private let capacity: Int
    private let entries = Mutex<[String: (identity: Identity, expiresAt: Double)]>([:])

    init(capacity: Int) { self.capacity = capacity }

    func identity(for token: String, now: Int64) -> Identity? {
        guard let entry = entries.withLock({ $0[token] }), entry.expiresAt > Double(now) else { return nil }
        return entry.identity
    }

    func remember(_ token: String, _ identity: Identity, expiresAt: Double) {
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[token] = (identity, expiresAt)
        }
    }
}

private protocol JWTPart: Decodable {
    init?(_ object: FlatJSONObject)
}

/// Base64 with the URL alphabet and no padding, as JWTs spell their parts (RFC 7515 §2).
enum Base64URL {
    static func encode(_ bytes: [UInt8]) -> String {
        var text = Data(bytes).base64EncodedString()
        text = text.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        while text.last == "=" { text.removeLast() }
        return text
    }

    /// nil for anything but the URL alphabet without padding. Decoded by hand: every request
    /// decodes three parts, and Foundation's string replacing took a fifth of the server's CPU.
    static func decode(_ text: Substring) -> [UInt8]? {
        let utf8 = text.utf8
        guard utf8.count % 4 != 1 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for character in utf8 {
            let value = decodingTable[Int(character)]
            guard value != 0xFF else { return nil }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                bytes.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        return bytes
    }

    /// Each byte's 6-bit value in the URL alphabet, 0xFF for bytes outside it.
    private static let decodingTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (value, character) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8.enumerated() {
            table[Int(character)] = UInt8(value)
        }
        return table
    }()
}
