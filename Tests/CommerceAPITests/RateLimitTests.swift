import CouponGate
import Foundation
import HTTPTypes
import RedisClient
import TestSupport
import Testing
@testable import CommerceAPI
@testable import CommerceCore

/// The rate limit of `POST /coupons/issue`: per user and per client address, shared in Redis.
@Suite(.alsoOn(.cluster)) struct RateLimitTests {
    /// `count` issue requests at once, each on its own connection.
    static func burst(_ app: TestApp, _ requests: [(user: Int64, coupon: Int64)]) async throws -> [Reply] {
        try await withThrowingTaskGroup(of: Reply.self) { group in
            for request in requests {
                group.addTask {
                    let client = app.connection()
                    defer { Task { try? await client.close() } }
                    return try await client.call(.post, "/coupons/issue", #"{"user_id": \#(request.user), "coupon_id": \#(request.coupon)}"#,
                                                 token: TestTokens.token(user: request.user))
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
    }

    @Test func aUserOverItsBucketGets429WithRetryAfterAndOthersAreUnaffected() async throws {
        // Burst 3, then one every 2 s: the burst below is far quicker than a refill.
        let limits = IssueRateLimits(perUser: TokenBucket(perSecond: 0.5, burst: 3), perAddress: nil)
        try await withTestApp(issueLimits: limits) { app async throws in
            var coupons: [Int64] = []
            for _ in 0..<12 { coupons.append(try await app.createCoupon(stock: 100)) }
            let replies = try await Self.burst(app, coupons.map { (user: 5, coupon: $0) })
            let passed = replies.filter { $0.status == .created }
            let limited = replies.filter { $0.status == .tooManyRequests }
            #expect(passed.count == 3)
            #expect(limited.count == 9)
            for reply in limited {
                #expect(reply.code == "RATE_LIMITED")
                let retryAfter = try #require(reply.headers[.retryAfter].flatMap { Int($0) })
                #expect((1...2).contains(retryAfter))
            }
            // Nothing was issued to the refused requests.
            var held = 0
            for coupon in coupons { held += try await app.issuedRows(coupon).count }
            #expect(held == 3)
            var limitedCounted = 0
            for coupon in coupons {
                let view = try await app.client.call(.get, "/admin/coupons/\(coupon)")
                limitedCounted += (view.json["issue_requests"] as? [String: Int])?["rate_limited"] ?? 0
            }
            #expect(limitedCounted == 9)

            // Other users, at the same moment and from the same address, are not held back.
            let others = try await Self.burst(app, (6...25).map { (user: Int64($0), coupon: coupons[0]) })
            #expect(others.allSatisfy { $0.status == .created })

            // After Retry-After the user has a token again.
            let wait = Int(limited[0].headers[.retryAfter]!)!
            try await Task.sleep(for: .seconds(wait))
            let refused = Set(coupons).subtracting(try await Self.couponsHeld(by: 5, app))
            let again = try await app.client.call(.post, "/coupons/issue", #"{"user_id": 5, "coupon_id": \#(refused.first!)}"#,
                                                  token: TestTokens.token(user: 5))
            #expect(again.status == .created)
        }
    }

    @Test func anAddressOverItsBucketGets429WhateverTheUser() async throws {
        let limits = IssueRateLimits(perUser: TokenBucket(perSecond: 100, burst: 100), perAddress: TokenBucket(perSecond: 0.5, burst: 5))
        try await withTestApp(issueLimits: limits) { app async throws in
            let coupon = try await app.createCoupon(stock: 100)
            let replies = try await Self.burst(app, (1...20).map { (user: Int64($0), coupon: coupon) })
            #expect(replies.filter { $0.status == .created }.count == 5)
            #expect(replies.filter { $0.status == .tooManyRequests && $0.headers[.retryAfter] != nil }.count == 15)
            #expect(try await app.issuedRows(coupon).count == 5)
            #expect(try await app.remaining(coupon) == 95)
        }
    }

    @Test func behindATrustedProxyEachForwardedClientHasItsOwnAddressBucket() async throws {
        let limits = IssueRateLimits(perUser: TokenBucket(perSecond: 100, burst: 100), perAddress: TokenBucket(perSecond: 0.01, burst: 2))
        /// Statuses of one request per user in `users`, each forwarded for `forwardedFor`.
        @Sendable func issue(_ app: TestApp, _ coupon: Int64, _ users: ClosedRange<Int64>, forwardedFor: String) async throws -> [HTTPResponse.Status] {
            var statuses: [HTTPResponse.Status] = []
            for user in users {
                statuses.append(try await app.client.call(
                    .post, "/coupons/issue", #"{"user_id": \#(user), "coupon_id": \#(coupon)}"#,
                    headers: [HTTPField.Name("X-Forwarded-For")!: forwardedFor], token: TestTokens.token(user: user)).status)
            }
            return statuses
        }
        try await withTestApp(issueLimits: limits, trustedProxies: TrustedProxies("127.0.0.1/32")!) { app async throws in
            let coupon = try await app.createCoupon(stock: 100)
            #expect(try await issue(app, coupon, 1...3, forwardedFor: "203.0.113.1") == [.created, .created, .tooManyRequests])
            #expect(try await issue(app, coupon, 4...5, forwardedFor: "203.0.113.2") == [.created, .created])
            // What a client writes left of its own address does not give it another bucket.
            #expect(try await issue(app, coupon, 6...6, forwardedFor: "198.51.100.9, 203.0.113.1") == [.tooManyRequests])
        }
        // From a peer that is not a trusted proxy the header is ignored: one bucket for all.
        try await withTestApp(issueLimits: limits) { app async throws in
            let coupon = try await app.createCoupon(stock: 100)
            #expect(try await issue(app, coupon, 1...1, forwardedFor: "203.0.113.1") == [.created])
            #expect(try await issue(app, coupon, 2...3, forwardedFor: "203.0.113.2") == [.created, .tooManyRequests])
        }
    }

    @Test(.enabled(if: Nginx.isInstalled, "needs nginx (scripts/test installs it)"))
    func throughNginxEachClientKeepsItsOwnAddressBucketAndAForgedHeaderCountsForNothing() async throws {
        let limits = IssueRateLimits(perUser: TokenBucket(perSecond: 100, burst: 100), perAddress: TokenBucket(perSecond: 0.01, burst: 2))
        try await withTestApp(issueLimits: limits, trustedProxies: TrustedProxies("127.0.0.1/32")!) { app async throws in
            let coupon = try await app.createCoupon(stock: 100)
            let server = try #require(app.client.port)
            /// The status of user's issue request sent to `port` from the loopback address `source`.
            func issue(_ user: Int64, from source: String, to port: Int, forwardedFor: String? = nil) throws -> Int? {
                let body = #"{"user_id": \#(user), "coupon_id": \#(coupon)}"#
                let forwarded = forwardedFor.map { "X-Forwarded-For: \($0)\r\n" } ?? ""
                return try RawConnection.status(of: "POST /coupons/issue HTTP/1.1\r\nHost: shop\r\nConnection: close\r\n"
                    + "Authorization: Bearer \(TestTokens.token(user: user))\r\nContent-Type: application/json\r\n\(forwarded)"
                    + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)", port: port, from: source)
            }
            try await Nginx.with(upstreams: [server], in: app.directory) { nginx async throws in
                // Two clients behind nginx (which connects from 127.0.0.1, the trusted proxy).
                #expect(try issue(1, from: "127.0.0.2", to: nginx) == 201)
                #expect(try issue(2, from: "127.0.0.2", to: nginx) == 201)
                #expect(try issue(3, from: "127.0.0.2", to: nginx) == 429)
                #expect(try issue(4, from: "127.0.0.3", to: nginx) == 201, "another client, another bucket")
                #expect(try issue(5, from: "127.0.0.3", to: nginx) == 201)
                // Straight to the server from an untrusted peer, the header is not believed: the
                // request counts against 127.0.0.2, which is empty, not against a fresh address.
                #expect(try issue(6, from: "127.0.0.2", to: server, forwardedFor: "203.0.113.50") == 429)
            }
            #expect(try await app.issuedRows(coupon) == [1, 2, 4, 5])
        }
    }

    @Test func aRequestRefusedByItsAddressBucketTakesNothingFromItsUserBucket() async throws {
        // On a cluster a user's bucket and its address's bucket sit on different slots unless
        // their shards happen to match: user 9 (shard 1) from 203.0.113.7, whose shard is not 1.
        #expect(HashSlot(key: "203.0.113.7").rawValue % 8 != 9 % 8)
        let limits = IssueRateLimits(perUser: TokenBucket(perSecond: 0.01, burst: 1), perAddress: TokenBucket(perSecond: 0.01, burst: 1))
        try await withTestApp(issueLimits: limits, trustedProxies: TrustedProxies("127.0.0.1/32")!) { app async throws in
            let coupon = try await app.createCoupon(stock: 100)
            @Sendable func issue(_ user: Int64, from address: String) async throws -> HTTPResponse.Status {
                try await app.client.call(.post, "/coupons/issue", #"{"user_id": \#(user), "coupon_id": \#(coupon)}"#,
                                          headers: [HTTPField.Name("X-Forwarded-For")!: address], token: TestTokens.token(user: user)).status
            }
            #expect(try await issue(8, from: "203.0.113.7") == .created)  // the address's one token
            #expect(try await issue(9, from: "203.0.113.7") == .tooManyRequests)
            // User 9's own token is still there: from another address it passes.
            #expect(try await issue(9, from: "198.51.100.1") == .created)
            #expect(try await app.issuedRows(coupon) == [8, 9])
        }
    }

    @Test func trustedProxiesParseAndWalkTheForwardedChainFromTheRight() throws {
        for bad in ["", "x", "10.0.0.0/33", "10.0.0.0/8/1", "::1/129", "10.0.0.0/-1", "10.0.0.0/8,", "10.0.0.0/8,nope"] {
            #expect(TrustedProxies(bad) == nil, "\(bad)")
        }
        let proxies = try #require(TrustedProxies("10.0.0.0/8, 172.16.0.0/12,::1"))
        #expect(proxies.clientAddress(peer: "10.1.1.1", forwardedFor: "1.2.3.4, 10.0.0.5") == "1.2.3.4")
        #expect(proxies.clientAddress(peer: "10.1.1.1", forwardedFor: "9.9.9.9, 1.2.3.4") == "1.2.3.4")
        #expect(proxies.clientAddress(peer: "8.8.8.8", forwardedFor: "1.2.3.4") == "8.8.8.8")
        #expect(proxies.clientAddress(peer: "10.1.1.1", forwardedFor: nil) == "10.1.1.1")
        #expect(proxies.clientAddress(peer: "10.1.1.1", forwardedFor: "10.0.0.9, 10.0.0.5") == "10.0.0.9")
        #expect(proxies.clientAddress(peer: "10.1.1.1", forwardedFor: "garbage, 10.0.0.5") == "10.0.0.5")
        #expect(proxies.clientAddress(peer: "::ffff:10.1.1.1", forwardedFor: "2001:db8::1") == "2001:db8::1")
        #expect(proxies.clientAddress(peer: "::1", forwardedFor: "1.2.3.4") == "1.2.3.4")
        #expect(proxies.clientAddress(peer: "172.31.255.255", forwardedFor: "1.2.3.4") == "1.2.3.4")
        #expect(proxies.clientAddress(peer: "172.32.0.1", forwardedFor: "1.2.3.4") == "172.32.0.1")
        #expect(TrustedProxies.none.clientAddress(peer: "10.1.1.1", forwardedFor: "1.2.3.4") == "10.1.1.1")
    }

    @Test func limitsParseFromTheCommandLineForm() {
        #expect(TokenBucket("2:5") == TokenBucket(perSecond: 2, burst: 5))
        #expect(TokenBucket("0.5:1") == TokenBucket(perSecond: 0.5, burst: 1))
        #expect(TokenBucket("2:5")?.description == "2:5")
        for bad in ["", "2", "0:5", "2:0", "-1:5", "x:5", "2:5:1", "inf:5", "nan:5", "0.0001:5", "2:2000000"] {
            #expect(TokenBucket(bad) == nil, "\(bad)")
        }
    }

    static func couponsHeld(by user: Int64, _ app: TestApp) async throws -> Set<Int64> {
        let reply = try await app.client.call(.get, "/coupons?user_id=\(user)")
        let coupons = reply.json["coupons"] as? [[String: Any]] ?? []
        return Set(coupons.compactMap { $0["coupon_id"] as? Int64 })
    }
}
