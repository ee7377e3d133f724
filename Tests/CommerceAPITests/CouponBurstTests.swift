import Foundation
import GRDB
import Synchronization
import Testing

/// Hands out 0, 1, 2, ... to concurrent workers.
final class Ticket: Sendable {
    private let value = Atomic<Int>(0)
    func take() -> Int { value.add(1, ordering: .relaxed).oldValue }
}

/// First come, first served under real concurrency: many connections, all in flight together.
@Suite(.alsoOn(.postgres, .cluster)) struct CouponBurstTests {
    /// Sends one issue request per user, `connections` at a time (each worker on its own
    /// connection, taking the next user as soon as its last answer arrived). Returns, per user
    /// index, the status and error code.
    static func burst(_ app: TestApp, coupon: Int64, users: [Int64], connections: Int) async throws -> [(user: Int64, status: Int, code: String?)] {
        let next = Ticket()
        return try await withThrowingTaskGroup(of: [(Int64, Int, String?)].self) { group in
            for _ in 0..<connections {
                group.addTask {
                    let connection = app.connection()
                    var replies: [(Int64, Int, String?)] = []
                    while true {
                        let index = next.take()
                        guard index < users.count else { break }
                        let reply = try await connection.call(.post, "/coupons/issue", #"{"user_id": \#(users[index]), "coupon_id": \#(coupon)}"#)
                        replies.append((users[index], Int(reply.status.code), reply.code))
                    }
                    try? await connection.close()
                    return replies
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }.map { (user: $0.0, status: $0.1, code: $0.2) }
        }
    }

    @Test func fiveThousandUsersForAThousandCouponsGetExactlyAThousand() async throws {
        try await withTestApp { app async throws in
            let coupon = try await app.createCoupon(stock: 1_000)
            let users = (1...5_000).map { Int64($0) }
            let replies = try await Self.burst(app, coupon: coupon, users: users, connections: 256)

            let issued = replies.filter { $0.status == 201 }.map(\.user).sorted()
            #expect(replies.count == 5_000)
            #expect(issued.count == 1_000)
            #expect(replies.filter { $0.status == 409 && $0.code == "COUPON_SOLD_OUT" }.count == 4_000)
            #expect(Set(issued).count == issued.count, "no user twice")
            #expect(try await app.remaining(coupon) == 0)
            #expect(try await app.issuedRows(coupon) == issued, "exactly the users told 201 hold a row")
            #expect(try await app.issuedInRedis(coupon) == issued)
            let counts = app.coupons.counters.counts(couponID: coupon)
            #expect(counts[.issued] == 1_000 && counts[.soldOut] == 4_000)
        }
    }

    @Test func afterASellOutHoldersHearTheyHoldItAndEveryoneElseThatItIsSoldOut() async throws {
        try await withTestApp { app async throws in
            let coupon = try await app.createCoupon(stock: 100)
            let first = try await Self.burst(app, coupon: coupon, users: (1...300).map { Int64($0) }, connections: 64)
            let holders = Set(first.filter { $0.status == 201 }.map(\.user))
            #expect(holders.count == 100)
            // Everyone again, twice, 64 connections at once: answered from the sold-out memory
            // once its holders are read, by Redis before that; the same answers either way.
            let again = try await Self.burst(app, coupon: coupon, users: (1...600).map { Int64(($0 - 1) % 300 + 1) }, connections: 64)
            #expect(again.count == 600)
            for reply in again {
                #expect(reply.status == 409 && reply.code == (holders.contains(reply.user) ? "COUPON_ALREADY_ISSUED" : "COUPON_SOLD_OUT"),
                        "user \(reply.user): \(reply.status) \(reply.code ?? "")")
            }
            #expect(try await app.issuedRows(coupon) == holders.sorted())
        }
    }

    @Test func oneUserClickingFiftyTimesAtOnceGetsOneCoupon() async throws {
        try await withTestApp { app async throws in
            let coupon = try await app.createCoupon(stock: 10)
            let replies = try await Self.burst(app, coupon: coupon, users: Array(repeating: 77, count: 50), connections: 50)
            #expect(replies.filter { $0.status == 201 }.count == 1)
            #expect(replies.filter { $0.code == "COUPON_ALREADY_ISSUED" }.count == 49)
            #expect(try await app.remaining(coupon) == 9, "repeated clicks use no stock")
            #expect(try await app.issuedRows(coupon) == [77])
        }
    }
}
