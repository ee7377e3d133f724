/// Placing and reading paid orders.
public protocol OrderStore: Sendable {
    /// Places `order`: quoted, priced by ``OrderPricing``, carried out (see
    /// ``carryOut(_:at:idempotency:)``). The default quotes and carries out in two steps and
    /// quotes again when the store changed in between; a driver that can do both in one
    /// transaction of its own (SQLite, on its one writer) does, with the same pricing.
    func place(_ order: NewOrder, at now: Int64,
               idempotency: IdempotencyRequest<Order>?) async throws -> IdempotentResult<Order>

    /// What pricing `order` needs (``OrderQuote``), read as the store holds it now.
    func quote(_ order: NewOrder) async throws -> OrderQuote

    /// Carries out a plan from ``OrderPricing`` in one transaction. A priced plan is written
    /// only while its quote still holds — each line's item live, at the line's unit price, with
    /// the quantity in stock (taken: never below 0); the coupon held, unused, under the terms
    /// version priced; the balance at least the total (taken, with its `USE` ledger entry) —
    /// then the order and its lines, the coupon marked used, and the order pending for every
    /// outbox sink (see ``OutboxStore``). When one condition fails, nothing is written and
    /// ``OrderQuoteStale`` is thrown. A refused plan writes nothing and ends as its refusal.
    /// With `idempotency`, a key used before replays its stored answer without looking at the
    /// plan; else the answer (order or refusal) is stored under it in the same transaction, so
    /// two requests with one key never both place an order. Callers use
    /// ``place(_:at:idempotency:)``.
    func carryOut(_ plan: OrderPlan, at now: Int64,
                  idempotency: IdempotencyRequest<Order>?) async throws -> IdempotentResult<Order>

    /// The order with this id, or nil.
    func order(_ orderID: Int64) async throws -> Order?

    /// The user's latest `limit` orders, newest first.
    func orders(userID: Int64, limit: Int) async throws -> [Order]
}
