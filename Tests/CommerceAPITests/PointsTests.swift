@testable import CommerceStoreSQLite
import Foundation
import GRDB
import Logging
@testable import CommerceAPI
@testable import CommerceCore
import HTTPTypes
import Testing

@Suite(.alsoOn(.postgres)) struct PointsTests {
    @Test func aUserWhoNeverChargedHasBalanceZeroAndNoHistory() async throws {
        try await withTestApp { app async throws in
            let balance = try await app.client.call(.get, "/points?user_id=42")
            #expect(balance.status == .ok)
            #expect(balance.json["user_id"] as? Int == 42)
            #expect(balance.json["balance"] as? Int == 0)
            let history = try await app.client.call(.get, "/points/history?user_id=42")
            #expect((history.json["entries"] as? [Any])?.isEmpty == true)
        }
    }

    @Test func chargingAddsToTheBalanceAndRecordsEachChangeNewestFirst() async throws {
        try await withTestApp { app async throws in
            let first = try await app.client.call(.post, "/points/charge", #"{"user_id": 1, "amount": 5000}"#)
            #expect(first.status == .ok)
            #expect(first.json["balance"] as? Int == 5000)
            let second = try await app.client.call(.post, "/points/charge", #"{"user_id": 1, "amount": 10000}"#)
            #expect(second.json["user_id"] as? Int == 1)
            #expect(second.json["balance"] as? Int == 15000)
            #expect(try await app.client.call(.get, "/points?user_id=1").json["balance"] as? Int == 15000)

            let entries = try await app.client.call(.get, "/points/history?user_id=1").json["entries"] as? [[String: Any]] ?? []
            #expect(entries.count == 2)
            #expect(entries.map { $0["amount"] as? Int } == [10000, 5000])
            #expect(entries.map { $0["balance_after"] as? Int } == [15000, 5000])
            #expect(entries.allSatisfy { $0["kind"] as? String == "CHARGE" && $0["order_id"] is NSNull })
            let ids = entries.compactMap { $0["id"] as? Int }
            #expect(ids == ids.sorted(by: >))
            let at = entries.first?["at"] as? String ?? ""
            #expect(at.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/) != nil, "\(at)")
            let limited = try await app.client.call(.get, "/points/history?user_id=1&limit=1").json["entries"] as? [Any]
            #expect(limited?.count == 1)
        }
    }

    @Test func outOfRangeAndMalformedInputIs400NamingTheField() async throws {
        try await withTestApp { app async throws in
            let cases: [(String, String)] = [
                (#"{"user_id": 1, "amount": 0}"#, "`amount`"),
                (#"{"user_id": 1, "amount": 100000001}"#, "`amount`"),
                (#"{"user_id": 0, "amount": 5}"#, "`user_id`"),
                (#"{"user_id": -3, "amount": 5}"#, "`user_id`"),
                (#"{"user_id": 1, "amount": 1.5}"#, "`amount`"),
                (#"{"user_id": "1", "amount": 5}"#, "`user_id`"),
                (#"{"amount": 5}"#, "`user_id`"),
                (#"[1, 2]"#, "body"),
            ]
            for (body, field) in cases {
                let reply = try await app.client.call(.post, "/points/charge", body)
                #expect(reply.status == .badRequest, "\(body)")
                #expect(reply.code == "INVALID_REQUEST")
                #expect(reply.detail.contains(field), "\(body): \(reply.detail)")
            }
            for query in ["/points", "/points?user_id=abc", "/points?user_id=0", "/points/history?user_id=1&limit=0",
                          "/points/history?user_id=1&limit=101", "/points/history?user_id=1&limit=x"] {
                let reply = try await app.client.call(.get, query)
                #expect(reply.status == .badRequest, "\(query)")
                #expect(reply.code == "INVALID_REQUEST")
            }
            #expect(try await app.balance(of: 1) == 0)
        }
    }

    @Test func aBalanceCannotPassTenToTheThirteenth() async throws {
        try await withTestApp { app async throws in
            // Charges of at most 10^8 would take 100,000 requests to get near the limit: start there.
            try await app.setBalance(of: 5, to: 9_999_999_999_000)
            let over = try await app.client.call(.post, "/points/charge", #"{"user_id": 5, "amount": 1001}"#)
            #expect(over.status == .conflict)
            #expect(over.code == "BALANCE_LIMIT_EXCEEDED")
            #expect(try await app.balance(of: 5) == 9_999_999_999_000)
            let exact = try await app.client.call(.post, "/points/charge", #"{"user_id": 5, "amount": 1000}"#)
            #expect(exact.json["balance"] as? Int == 10_000_000_000_000)
        }
    }

    @Test func aRetryWithTheSameKeyReturnsTheFirstResponseAndChargesOnce() async throws {
        try await withTestApp { app async throws in
            let key: HTTPFields = [.init("Idempotency-Key")!: "charge-1"]
            let first = try await app.client.call(.post, "/points/charge", #"{"user_id": 1, "amount": 700}"#, headers: key)
            let retry = try await app.client.call(.post, "/points/charge", #"{"amount": 700, "user_id": 1}"#, headers: key)
            #expect(first.status == .ok)
            #expect(retry.status == .ok)
            #expect(retry.text == first.text)
            #expect(retry.headers[.init("Idempotent-Replayed")!] == "true")
            #expect(try await app.balance(of: 1) == 700)
            #expect(try await app.client.call(.get, "/points/history?user_id=1").json["entries"] as? [Any] != nil)
            #expect(try await app.ledgerSum(of: 1) == 700)

            let reused = try await app.client.call(.post, "/points/charge", #"{"user_id": 1, "amount": 800}"#, headers: key)
            #expect(reused.status == .conflict)
            #expect(reused.code == "IDEMPOTENCY_KEY_REUSED")
            #expect(try await app.balance(of: 1) == 700)

            // Keys are per user: another user may use the same key.
            let other = try await app.client.call(.post, "/points/charge", #"{"user_id": 2, "amount": 800}"#, headers: key)
            #expect(other.status == .ok)
            #expect(try await app.balance(of: 2) == 800)
        }
    }

    @Test func aStoredRefusalIsReplayedToo() async throws {
        try await withTestApp { app async throws in
            try await app.setBalance(of: 5, to: 10_000_000_000_000)
            let key: HTTPFields = [.init("Idempotency-Key")!: "k"]
            let first = try await app.client.call(.post, "/points/charge", #"{"user_id": 5, "amount": 1}"#, headers: key)
            #expect(first.code == "BALANCE_LIMIT_EXCEEDED")
            try await app.setBalance(of: 5, to: 0)
            let retry = try await app.client.call(.post, "/points/charge", #"{"user_id": 5, "amount": 1}"#, headers: key)
            #expect(retry.status == .conflict)
            #expect(retry.text == first.text)
            #expect(retry.headers[.contentType] == "application/problem+json")
            #expect(try await app.balance(of: 5) == 0)
        }
    }

    @Test(.enabled(if: TestDatabase.isSQLite, "SQLite's file lock"))
    func aDatabaseLockedByAnotherProcessIs503AndNothingChanges() async throws {
        try await withTestApp(busyTimeout: 0.2) { app async throws in
            try await app.charge(user: 1, 100)
            // Another process's writer holding the lock (kept open across accesses on purpose).
            var configuration = Configuration()
            configuration.allowsUnsafeTransactions = true
            let other = try DatabaseQueue(path: app.databasePath, configuration: configuration)
            try await other.writeWithoutTransaction { try $0.execute(sql: "BEGIN EXCLUSIVE") }
            let refused = try await app.client.call(.post, "/points/charge", #"{"user_id": 1, "amount": 5}"#)
            #expect(refused.status == .serviceUnavailable)
            #expect(refused.code == "SERVICE_UNAVAILABLE")
            try await other.writeWithoutTransaction { try $0.execute(sql: "ROLLBACK") }
            #expect(try await app.balance(of: 1) == 100)
            let accepted = try await app.client.call(.post, "/points/charge", #"{"user_id": 1, "amount": 5}"#)
            #expect(accepted.json["balance"] as? Int == 105)
        }
    }

    @Test func idempotencyKeysMustBe1To200Characters() async throws {
        try await withTestApp { app async throws in
            // 150 grapheme clusters but 300 code points (what SQLite's length() counts): once a
            // 500 from the table's CHECK instead of a 400.
            for key in ["", String(repeating: "k", count: 201), String(repeating: "e\u{301}", count: 150), "tab\tkey"] {
                let reply = try await app.client.call(.post, "/points/charge", #"{"user_id": 1, "amount": 5}"#,
                                                      headers: [.init("Idempotency-Key")!: key])
                #expect(reply.status == .badRequest)
                #expect(reply.detail.contains("Idempotency-Key"))
            }
            let longest = try await app.client.call(.post, "/points/charge", #"{"user_id": 1, "amount": 5}"#,
                                                    headers: [.init("Idempotency-Key")!: String(repeating: "k", count: 200)])
            #expect(longest.status == .ok)
            #expect(try await app.balance(of: 1) == 5)
        }
    }
}

@Suite(.alsoOn(.postgres)) struct IdempotencyKeyPrunerTests {
    @Test func keysAreKeptForADayAndForgottenAfterTwo() async throws {
        let clock = ManualClock(.init(milliseconds: 1_800_000_000_000))
        try await withTestApp(now: clock.now) { app async throws in
            let key: HTTPFields = [.init("Idempotency-Key")!: "old"]
            _ = try await app.client.call(.post, "/points/charge", #"{"user_id": 1, "amount": 5}"#, headers: key)
            clock.set(.init(milliseconds: 1_800_000_000_000 + 25 * 3_600_000))
            _ = try await app.client.call(.post, "/points/charge", #"{"user_id": 1, "amount": 5}"#, headers: [.init("Idempotency-Key")!: "newer"])
            clock.set(.init(milliseconds: 1_800_000_000_000 + 49 * 3_600_000))

            let pruner = Task {
                try await IdempotencyKeyPruner(keys: app.database.idempotencyKeys, logger: Logger(label: "test"), now: clock.now, interval: .seconds(3600)).run()
            }
            defer { pruner.cancel() }
            try await waitFor {
                try await app.sql.int("SELECT COUNT(*) FROM idempotency_keys") == 1
            }
            let left = try await app.sql.strings("SELECT key FROM idempotency_keys")
            #expect(left == ["newer"])
        }
    }
}
