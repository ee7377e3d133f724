import CommerceStore

struct SQLiteOrderStore: OrderStore {
    let store: SQLiteStore

    /// Quoted, priced and carried out in one write on the writer: nothing can change in between.
    func place(_ order: NewOrder, at now: Int64,
               idempotency: IdempotencyRequest<Order>?) async throws -> IdempotentResult<Order> {
        try await store.idempotentWrite(userID: order.userID, at: now, idempotency) { db in
            let plan = OrderPricing.plan(order, quote: try OrderBook.quote(db, order), at: now)
            return try OrderBook.carryOut(db, try plan.outcome.get(), at: now)
        }
    }

    func quote(_ order: NewOrder) async throws -> OrderQuote {
        try await store.read { try OrderBook.quote($0, order) }
    }

    func carryOut(_ plan: OrderPlan, at now: Int64,
                  idempotency: IdempotencyRequest<Order>?) async throws -> IdempotentResult<Order> {
        try await store.idempotentWrite(userID: plan.userID, at: now, idempotency) {
            try OrderBook.carryOut($0, try plan.outcome.get(), at: now)
        }
    }

    func order(_ orderID: Int64) async throws -> Order? {
        try await store.read { try OrderBook.find($0, orderID: orderID) }
    }

    func orders(userID: Int64, limit: Int) async throws -> [Order] {
        try await store.read { try OrderBook.list($0, userID: userID, limit: limit) }
    }
}
