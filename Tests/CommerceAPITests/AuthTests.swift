import Crypto
import Foundation
import HTTPTypes
import Testing
@testable import CommerceAPI
@testable import CommerceCore
@testable import BearerTokens
import JWTKit

/// Bearer tokens on every route: who may call what, and every way a token is refused.
@Suite struct AuthTests {
    static let openRoutes: Set<String> = ["GET /health/live", "GET /health/ready", "GET /metrics", "GET /openapi.yaml", "GET /admin/board"]

    static func jwt(header: String, claims: String, sign: ([UInt8]) -> [UInt8]) -> String {
        TestTokens.jwt(header: header, claims: claims, sign: sign)
    }

    static func hs256(_ secret: String) -> ([UInt8]) -> [UInt8] { TestTokens.hs256(secret) }

    static var future: Int64 { TestTokens.inAnHour }

    /// Every way a token must be refused, by name.
    static var refusedTokens: [(String, String?)] {
        let secret = TestTokens.secret
        return [
            ("no token", nil),
            ("not a JWT", "not-a-token"),
            ("two parts", "abc.def"),
            ("signed with another secret", jwt(header: #"{"alg":"HS256","typ":"JWT"}"#, claims: #"{"sub":"1","exp":\#(future),"role":"admin"}"#,
                                                sign: hs256("another-secret-of-at-least-32-bytes!"))),
            ("alg none", jwt(header: #"{"alg":"none","typ":"JWT"}"#, claims: #"{"sub":"1","exp":\#(future),"role":"admin"}"#, sign: { _ in [] })),
            ("alg HS512", jwt(header: #"{"alg":"HS512","typ":"JWT"}"#, claims: #"{"sub":"1","exp":\#(future),"role":"admin"}"#, sign: {
                Array(HMAC<SHA512>.authenticationCode(for: $0, using: SymmetricKey(data: Array(secret.utf8))))
            })),
            ("expired", TestTokens.token(user: 1, admin: true, expiresIn: -5)),
            ("no exp", jwt(header: #"{"alg":"HS256"}"#, claims: #"{"sub":"1","role":"admin"}"#, sign: hs256(secret))),
            ("numeric sub", jwt(header: #"{"alg":"HS256"}"#, claims: #"{"sub":1,"exp":\#(future)}"#, sign: hs256(secret))),
            ("sub not an id", jwt(header: #"{"alg":"HS256"}"#, claims: #"{"sub":"01","exp":\#(future)}"#, sign: hs256(secret))),
            ("claims changed after signing", {
                let token = TestTokens.token(user: 1)
                let parts = token.split(separator: ".")
                let admin = TestTokens.base64URL(Array(#"{"sub":"1","exp":\#(future),"role":"admin"}"#.utf8))
                return "\(parts[0]).\(admin).\(parts[2])"
            }()),
        ]
    }

    /// A concrete path for a route template: every `{param}` becomes 1.
    static func concrete(_ path: String) -> String {
        path.replacing(/\{[a-z_]+\}/, with: "1")
    }

    @Test func everyRouteButTheOpenOnesRefusesEveryBadToken() async throws {
        try await withTestApp { app async throws in
            let guarded = app.routes.filter { !Self.openRoutes.contains($0) }
            #expect(guarded.count == 19)  // every route family, /admin included
            for route in guarded {
                let parts = route.split(separator: " ")
                let method = HTTPRequest.Method(String(parts[0]))!
                for (name, token) in Self.refusedTokens {
                    let headers: HTTPFields = token.map { [.authorization: "Bearer \($0)"] } ?? [:]
                    let reply = try await app.client.call(method, Self.concrete(String(parts[1])), "{}", headers: headers, token: nil)
                    #expect(reply.status == .unauthorized, "\(route) with \(name): \(reply.status) \(reply.text)")
                    #expect(reply.code == "UNAUTHENTICATED", "\(route) with \(name)")
                    #expect(reply.headers[.wwwAuthenticate] == "Bearer", "\(route) with \(name)")
                }
            }
            // Another scheme is refused the same way.
            let basic = try await app.client.call(.get, "/items", headers: [.authorization: "Basic dXNlcjpwYXNz"], token: nil)
            #expect(basic.status == .unauthorized)
        }
    }

    @Test func openRoutesNeedNoToken() async throws {
        try await withTestApp { app async throws in
            for route in Self.openRoutes {
                let path = String(route.split(separator: " ")[1])
                #expect(try await app.client.call(.get, path, token: nil).status == .ok, "\(route)")
            }
        }
    }

    @Test func adminRoutesRefuseAUserToken() async throws {
        try await withTestApp { app async throws in
            let adminRoutes = app.routes.filter { $0.split(separator: " ")[1].hasPrefix("/admin/") && !Self.openRoutes.contains($0) }
            #expect(adminRoutes.count == 8)
            let user = TestTokens.token(user: 7)
            for route in adminRoutes {
                let parts = route.split(separator: " ")
                let reply = try await app.client.call(HTTPRequest.Method(String(parts[0]))!, Self.concrete(String(parts[1])),
                                                      #"{"name": "x", "price": 1, "stock": 1}"#, token: user)
                #expect(reply.status == .forbidden, "\(route): \(reply.status)")
                #expect(reply.code == "FORBIDDEN", "\(route)")
            }
            let items = try await app.client.call(.get, "/items")
            #expect((items.json["items"] as? [Any])?.isEmpty == true, "a user token created an item")
        }
    }

    @Test func aUserTokenActsForItsOwnUserOnly() async throws {
        try await withTestApp { app async throws in
            let item = try await app.createItem(price: 100, stock: 10)
            let coupon = try await app.createCoupon(stock: 10)
            try await app.charge(user: 8, 10_000)
            let othersOrder = try await app.order(user: 8, [(item, 1)])
            let othersOrderID = try #require(othersOrder.json["order_id"] as? Int64)

            let seven = TestTokens.token(user: 7)
            // Everything user 7's token tries on user 8 is refused and changes nothing.
            let attempts: [(HTTPRequest.Method, String, String?)] = [
                (.post, "/points/charge", #"{"user_id": 8, "amount": 500}"#),
                (.get, "/points?user_id=8", nil),
                (.get, "/points/history?user_id=8", nil),
                (.post, "/coupons/issue", #"{"user_id": 8, "coupon_id": \#(coupon)}"#),
                (.get, "/coupons?user_id=8", nil),
                (.post, "/orders", orderBody(user: 8, [(item, 1)])),
                (.get, "/orders?user_id=8", nil),
            ]
            for (method, uri, body) in attempts {
                let reply = try await app.client.call(method, uri, body, token: seven)
                #expect(reply.status == .forbidden, "\(method) \(uri): \(reply.status) \(reply.text)")
                #expect(reply.code == "FORBIDDEN", "\(method) \(uri)")
            }
            // Another user's order is not revealed: 404 as if it did not exist.
            let peek = try await app.client.call(.get, "/orders/\(othersOrderID)", token: seven)
            #expect(peek.status == .notFound)
            #expect(peek.code == "ORDER_NOT_FOUND")
            #expect(try await app.balance(of: 8) == 9_900)
            #expect(try await app.issuedRows(coupon).isEmpty)
            #expect(try await app.stock(of: item) == 9)

            // The owner and an admin see it; user 7 may do everything for user 7.
            let eight = TestTokens.token(user: 8)
            #expect(try await app.client.call(.get, "/orders/\(othersOrderID)", token: eight).status == .ok)
            #expect(try await app.client.call(.get, "/orders/\(othersOrderID)").status == .ok)
            let own: [(HTTPRequest.Method, String, String?, HTTPResponse.Status)] = [
                (.post, "/points/charge", #"{"user_id": 7, "amount": 500}"#, .ok),
                (.get, "/points?user_id=7", nil, .ok),
                (.get, "/points/history?user_id=7", nil, .ok),
                (.post, "/coupons/issue", #"{"user_id": 7, "coupon_id": \#(coupon)}"#, .created),
                (.get, "/coupons?user_id=7", nil, .ok),
                (.post, "/orders", orderBody(user: 7, [(item, 1)]), .created),
                (.get, "/orders?user_id=7", nil, .ok),
                (.get, "/items", nil, .ok),
                (.get, "/items/\(item)", nil, .ok),
                (.get, "/items/popular", nil, .ok),
            ]
            for (method, uri, body, status) in own {
                let reply = try await app.client.call(method, uri, body, token: seven)
                #expect(reply.status == status, "\(method) \(uri): \(reply.status) \(reply.text)")
            }
        }
    }

    @Test func tokensRoundTripAndRefuseShortSecrets() async throws {
        let tokens = try await TestTokens.verifier()
        let now = Int64(Date().timeIntervalSince1970)
        let token = try await tokens.sign(Identity(userID: 42, isAdmin: true), expiresAt: now + 10)
        #expect(try tokens.verify(token[...], now: now) == Identity(userID: 42, isAdmin: true))
        // Verified once (and remembered), the same token is still refused once expired, and a
        // token differing in one character is checked in full.
        #expect(try tokens.verify(token[...], now: now + 9) == Identity(userID: 42, isAdmin: true))
        #expect(throws: TokenRejection.self) { try tokens.verify(token[...], now: now + 10) }
        var tampered = Array(token.utf8)
        tampered[tampered.count - 2] = tampered[tampered.count - 2] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        #expect(throws: TokenRejection.self) { try tokens.verify(String(decoding: tampered, as: UTF8.self)[...], now: now) }
        let other = try await AccessTokens(secret: String(repeating: "x", count: 32))
        #expect(throws: TokenRejection.self) { try other.verify(token[...], now: now) }
        await #expect(throws: TokenRejection.self) { try await AccessTokens(secret: "short") }
        // A role other than admin is a plain user; the tests' own HS256 tokens pass the server's check.
        let claims = #"{"sub":"5","exp":\#(now + 60),"role":"root"}"#
        let plain = Self.jwt(header: #"{"alg":"HS256","typ":"JWT"}"#, claims: claims, sign: Self.hs256(TestTokens.secret))
        #expect(try tokens.verify(plain[...], now: now) == Identity(userID: 5, isAdmin: false))
        #expect(try tokens.verify(TestTokens.token(user: 3)[...], now: now) == Identity(userID: 3, isAdmin: false))
    }
}

extension AuthTests {
    /// The fast decoder of headers and claims reads what the full one reads, or hands over.
    @Test func flatTokenPartsDecodeAsTheFullDecoderDoes() throws {
        let claims = [#"{"sub":"42","exp":1795389908}"#, #"{"sub":"7","exp":1795389908,"role":"admin","iss":"https://id","aud":"shop"}"#,
                      #"{"sub":"7","exp":1795389908.5,"aud":["a","shop"]}"#, #"{"sub":"7","exp":1795389908,"role":"admin","extra":{"x":1}}"#]
        for text in claims {
            let data = Data(text.utf8)
            let fast = try FlatJWTJSONDecoder().decode(TokenClaims.self, from: data)
            let full = try JSONDecoder().decode(TokenClaims.self, from: data)
            #expect(fast.sub == full.sub && fast.exp == full.exp && fast.role == full.role && fast.iss == full.iss
                    && fast.aud?.value == full.aud?.value, "\(text)")
        }
        for text in [#"{"sub":1,"exp":1795389908}"#, #"{"sub":"1"}"#, #"{"sub":"1","exp":1795389908,"role":true}"#] {
            #expect(throws: (any Error).self, "\(text)") { try FlatJWTJSONDecoder().decode(TokenClaims.self, from: Data(text.utf8)) }
        }
        let header = try FlatJWTJSONDecoder().decode(JWTHeader.self, from: Data(#"{"alg":"RS256","typ":"JWT","kid":"k-1"}"#.utf8))
        #expect(header.alg == "RS256" && header.kid == "k-1" && header.typ == "JWT")
    }
}
