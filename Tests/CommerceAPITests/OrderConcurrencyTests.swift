@testable import CommerceStoreSQLite
import Foundation
import GRDB
import Testing

/// Real concurrency: every request on its own HTTP connection, all in flight together.
@Suite(.alsoOn(.postgres)) struct OrderConcurrencyTests {
    /// Sends `count` requests at once, each on its own connection; returns the statuses.
    static func burst(_ app: TestApp, count: Int, _ request: @escaping @Sendable (Int) -> (uri: String, body: String)) async throws -> [Int] {
        try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<count {
                group.addTask {
                    let connection = app.connection()
                    let (uri, body) = request(index)
                    let status = try await connection.call(.post, uri, body).status.code
                    try? await connection.close()
                    return status
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
    }

    @Test func twoHundredOrdersForFiftyUnitsSellExactlyFifty() async throws {
        try await withTestApp { app async throws in
            let item = try await app.createItem(price: 10, stock: 50)
            for user in 1...200 { try await app.charge(user: Int64(user), 100) }
            let statuses = try await Self.burst(app, count: 200) { index in
                ("/orders", #"{"user_id": \#(index + 1), "items": [{"item_id": \#(item), "quantity": 1}]}"#)
            }
            #expect(statuses.filter { $0 == 201 }.count == 50)
            #expect(statuses.filter { $0 == 409 }.count == 150)
            #expect(try await app.stock(of: item) == 0)
            let sold = try await app.sql.int("SELECT SUM(quantity) FROM order_items WHERE item_id = \(item)")
            #expect(sold == 50)
            let paid = try await app.sql.int("SELECT COUNT(*) FROM point_history WHERE kind = 'USE'")
            #expect(paid == 50)
        }
    }

    @Test func oneUsersHundredOrdersSpendExactlyTheBalance() async throws {
        try await withTestApp { app async throws in
            let item = try await app.createItem(price: 700, stock: 1000)
            try await app.charge(user: 9, 7000)
            let statuses = try await Self.burst(app, count: 100) { _ in
                ("/orders", #"{"user_id": 9, "items": [{"item_id": \#(item), "quantity": 1}]}"#)
            }
            #expect(statuses.filter { $0 == 201 }.count == 10)
            #expect(statuses.filter { $0 == 409 }.count == 90)
            #expect(try await app.balance(of: 9) == 0)
            #expect(try await app.ledgerSum(of: 9) == 0)
            #expect(try await app.stock(of: item) == 990)
            let afters = try await app.sql.strings("SELECT balance_after FROM point_history WHERE user_id = 9 ORDER BY id").compactMap { Int64($0) }
            #expect(afters == [7000] + stride(from: 6300, through: 0, by: -700).map { Int64($0) })
        }
    }
}
