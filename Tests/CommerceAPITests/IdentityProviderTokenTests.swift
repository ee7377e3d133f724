import BearerTokens
import Crypto
import CryptoExtras
import Foundation
import HTTPTypes
import Testing
import TestSupport

/// An identity provider's keys and the tokens it signs: RS256 and ES256 by `kid`, signed here
/// with swift-crypto (not the server's jwt-kit), published as a JSON Web Key Set.
struct IdentityProvider {
    static let issuer = "https://id.example.com"
    static let audience = "commerce"

    let rsa = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
    let ec = P256.Signing.PrivateKey()

    /// The key set with the RSA key as `rsaKid` and the EC key as `ecKid` (nil leaves one out).
    func keySet(rsaKid: String? = "rsa-1", ecKid: String? = "ec-1") throws -> String {
        var keys: [String] = []
        if let rsaKid {
            let primitives = try rsa.publicKey.getKeyPrimitives()
            keys.append(#"{"kty": "RSA", "kid": "\#(rsaKid)", "use": "sig", "n": "\#(TestTokens.base64URL(primitives.modulus))", "e": "\#(TestTokens.base64URL(primitives.publicExponent))"}"#)
        }
        if let ecKid {
            let point = ec.publicKey.rawRepresentation  // x ‖ y, 32 bytes each
            keys.append(#"{"kty": "EC", "crv": "P-256", "kid": "\#(ecKid)", "use": "sig", "x": "\#(TestTokens.base64URL(point.prefix(32)))", "y": "\#(TestTokens.base64URL(point.suffix(32)))"}"#)
        }
        return #"{"keys": [\#(keys.joined(separator: ", "))]}"#
    }

    /// The claims of a token for `user`, with this provider's `iss` and `aud` unless replaced.
    static func claims(user: Int64 = 42, admin: Bool = false, expiresIn seconds: Int64 = 3600,
                       issuer: String? = issuer, audience: String? = #""commerce""#) -> String {
        var fields = [#""sub": "\#(user)""#, #""exp": \#(Int64(Date().timeIntervalSince1970) + seconds)"#]
        if admin { fields.append(#""role": "admin""#) }
        if let issuer { fields.append(#""iss": "\#(issuer)""#) }
        if let audience { fields.append(#""aud": \#(audience)"#) }
        return "{" + fields.joined(separator: ", ") + "}"
    }

    func rs256(_ claims: String = claims(), kid: String = "rsa-1", alg: String = "RS256") throws -> String {
        try TestTokens.jwt(header: #"{"alg": "\#(alg)", "typ": "JWT", "kid": "\#(kid)"}"#, claims: claims) { input in
            alg == "RS384"
                ? Array(try rsa.signature(for: SHA384.hash(data: input), padding: .insecurePKCS1v1_5).rawRepresentation)
                : Array(try rsa.signature(for: SHA256.hash(data: input), padding: .insecurePKCS1v1_5).rawRepresentation)
        }
    }

    func es256(_ claims: String = claims(), kid: String = "ec-1") throws -> String {
        try TestTokens.jwt(header: #"{"alg": "ES256", "typ": "JWT", "kid": "\#(kid)"}"#, claims: claims) { input in
            Array(try ec.signature(for: Data(input)).rawRepresentation)
        }
    }
}

/// `serve --jwks --jwt-issuer --jwt-audience`: tokens from an identity provider, checked by the
/// built binary as a shop would run it.
@Suite struct IdentityProviderTokenTests {
    /// Runs `body` with a server that trusts `provider`'s key set (at the returned path) and no secret.
    static func withServer(_ provider: IdentityProvider, _ body: (CommerceServer, String) async throws -> Void) async throws {
        try await withTestRedis { redis async throws in
            try await withTemporaryDirectory { directory async throws in
                let keySet = directory.appendingPathComponent("jwks.json").path
                try Data(try provider.keySet().utf8).write(to: URL(fileURLWithPath: keySet))
                try await CommerceServer.with(
                    databasePath: directory.appendingPathComponent("commerce.sqlite").path, redisURL: redis.url,
                    logFile: directory.appendingPathComponent("serve.log"), secret: nil,
                    arguments: ["--jwks", keySet, "--jwt-issuer", IdentityProvider.issuer, "--jwt-audience", IdentityProvider.audience]
                ) { server in try await body(server, keySet) }
            }
        }
    }

    static func status(_ server: CommerceServer, _ token: String, _ uri: String = "/points?user_id=42") async throws -> HTTPResponse.Status {
        try await server.once { try await $0.call(.get, uri, token: token) }.status
    }

    @Test func rs256AndES256TokensFromTheKeySetAreAcceptedAndEveryOtherIsRefused() async throws {
        let provider = IdentityProvider()
        let stranger = IdentityProvider()
        try await Self.withServer(provider) { server, _ in
            #expect(try await Self.status(server, provider.rs256()) == .ok)
            #expect(try await Self.status(server, provider.es256()) == .ok)
            // Again: now from the verified-token memory.
            #expect(try await Self.status(server, provider.rs256()) == .ok)
            // `aud` may be a list; `role` makes an admin (an unknown coupon is 404, not 401/403).
            #expect(try await Self.status(server, provider.es256(IdentityProvider.claims(audience: #"["other", "commerce"]"#))) == .ok)
            #expect(try await Self.status(server, provider.es256(IdentityProvider.claims(admin: true)), "/admin/coupons/999999") == .notFound)
            #expect(try await Self.status(server, provider.es256(), "/admin/coupons/999999") == .forbidden)

            let hs256 = TestTokens.jwt(header: #"{"alg":"HS256","typ":"JWT","kid":"rsa-1"}"#, claims: IdentityProvider.claims(),
                                       sign: TestTokens.hs256(TestTokens.secret))
            let refused: [(name: String, token: String, reason: String)] = [
                ("a kid not in the set", try provider.rs256(kid: "rsa-2"), "no key this server trusts"),
                ("signed by a key not in the set (its kid)", try stranger.rs256(), "signature"),
                ("signed by a key not in the set (EC)", try stranger.es256(), "signature"),
                ("the EC key's signature under the RSA kid", try provider.es256(kid: "rsa-1"), "signature"),
                ("wrong iss", try provider.rs256(IdentityProvider.claims(issuer: "https://evil.example.com")), "`iss`"),
                ("no iss", try provider.rs256(IdentityProvider.claims(issuer: nil)), "`iss`"),
                ("wrong aud", try provider.es256(IdentityProvider.claims(audience: #""shop-admin""#)), "`aud`"),
                ("no aud", try provider.es256(IdentityProvider.claims(audience: nil)), "`aud`"),
                ("HS256 without a secret", TestTokens.token(user: 42), "no key this server trusts"),
                ("HS256 naming a key-set kid", hs256, "signature"),
                ("alg none", TestTokens.jwt(header: #"{"alg":"none","kid":"rsa-1"}"#, claims: IdentityProvider.claims(), sign: { _ in [] }), "signature"),
                ("RS384 by the set's RSA key", try provider.rs256(kid: "rsa-1", alg: "RS384"), "signature"),
                ("expired", try provider.rs256(IdentityProvider.claims(expiresIn: -5)), "expired"),
                ("sub not a user id", try provider.rs256(#"{"sub": "alice", "exp": \#(TestTokens.inAnHour), "iss": "\#(IdentityProvider.issuer)", "aud": "commerce"}"#), "`sub`"),
            ]
            for (name, token, reason) in refused {
                let reply = try await server.once { try await $0.call(.get, "/points?user_id=42", token: token) }
                #expect(reply.status == .unauthorized, "\(name): \(reply.status) \(reply.text)")
                #expect(reply.code == "UNAUTHENTICATED", "\(name)")
                #expect(reply.detail.contains(reason), "\(name): \(reply.detail)")
            }
        }
    }

    @Test func aKeySetReplacedWhileServingIsPickedUp() async throws {
        let provider = IdentityProvider()
        let next = IdentityProvider()
        try await Self.withServer(provider) { server, keySet in
            let old = try provider.rs256()
            #expect(try await Self.status(server, old) == .ok)
            #expect(try await Self.status(server, next.es256(kid: "ec-2")) == .unauthorized)

            // Rotated the way tools do it: a new file renamed over the old one. The old RSA key is
            // gone, the next EC key is in.
            let staged = keySet + ".new"
            try Data(try next.keySet(rsaKid: nil, ecKid: "ec-2").utf8).write(to: URL(fileURLWithPath: staged))
            #expect(rename(staged, keySet) == 0)
            try await waitFor { try await Self.status(server, next.es256(kid: "ec-2")) == .ok }
            // The old key's token, accepted (and remembered) before, is refused now.
            #expect(try await Self.status(server, old) == .unauthorized)

            // A broken rewrite keeps the keys that work (the log says so).
            try Data("{\"keys\": [".utf8).write(to: URL(fileURLWithPath: keySet))
            try await Task.sleep(for: .seconds(2))
            #expect(try await Self.status(server, next.es256(kid: "ec-2")) == .ok)
            #expect(server.process.output.contains("key set changed but cannot be used"))
        }
    }
}

extension IdentityProviderTokenTests {
    @Test func withASecretAndAKeySetBothKindsPassAndSignedTokensCarryTheRequiredIssuerAndAudience() async throws {
        let provider = IdentityProvider()
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("jwks.json").path
            try Data(try provider.keySet().utf8).write(to: URL(fileURLWithPath: path))
            let tokens = try await AccessTokens(secret: TestTokens.secret, keySet: KeySetFile(path: path),
                                                issuer: IdentityProvider.issuer, audience: IdentityProvider.audience)
            let now = Int64(Date().timeIntervalSince1970)
            #expect(try tokens.verify(provider.rs256()[...], now: now) == Identity(userID: 42, isAdmin: false))
            #expect(try tokens.verify(provider.es256(IdentityProvider.claims(user: 7, admin: true))[...], now: now)
                    == Identity(userID: 7, isAdmin: true))
            // HS256 by the secret, with the required claims (as `commerce token` signs them)...
            let signed = try await tokens.sign(Identity(userID: 9, isAdmin: false), expiresAt: now + 60)
            #expect(try tokens.verify(signed[...], now: now) == Identity(userID: 9, isAdmin: false))
            let hs256 = TestTokens.jwt(header: #"{"alg":"HS256"}"#, claims: IdentityProvider.claims(user: 5), sign: TestTokens.hs256(TestTokens.secret))
            #expect(try tokens.verify(hs256[...], now: now) == Identity(userID: 5, isAdmin: false))
            // ...but not without them, and a key-set kid does not make the secret's signature pass.
            #expect(throws: TokenRejection.self) { try tokens.verify(TestTokens.token(user: 5)[...], now: now) }
            let confused = TestTokens.jwt(header: #"{"alg":"HS256","kid":"ec-1"}"#, claims: IdentityProvider.claims(user: 5),
                                          sign: TestTokens.hs256(TestTokens.secret))
            #expect(throws: TokenRejection.self) { try tokens.verify(confused[...], now: now) }
        }
    }
}
