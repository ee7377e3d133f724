import CommerceStore

struct SQLiteOrderStore: OrderStore {
    let store: SQLiteStore

    func place(_ order: NewOrder, at now: Int64,
               idempotency: IdempotencyRequest<Order>?) async throws -> IdempotentResult<Order> {
        try await store.idempotentWrite(userID: order.userID, at: now, idempotency) {
            try OrderBook.place($0, order, at: now)
        }
    }

    func order(_ orderID: Int64) async throws -> Order? {
        try await store.read { try OrderBook.find($0, orderID: orderID) }
    }

    func orders(userID: Int64, limit: Int) async throws -> [Order] {
        try await store.read { try OrderBook.list($0, userID: userID, limit: limit) }
    }
}
