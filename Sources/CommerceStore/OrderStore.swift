/// Placing and reading paid orders.
public protocol OrderStore: Sendable {
    /// Places a paid order in one transaction: each line's stock taken (conditionally: never
    /// below 0), the coupon marked used, the total taken from the balance with its `USE` ledger
    /// entry, the order and its lines written — and the order becomes pending for every outbox
    /// sink (see ``OutboxStore``). Refusals (nothing changed): `ITEM_NOT_FOUND` naming every
    /// missing item, else `INSUFFICIENT_STOCK` naming every item short, `COUPON_NOT_OWNED`,
    /// `COUPON_ALREADY_USED`, `COUPON_EXPIRED`, `INSUFFICIENT_BALANCE`. With `idempotency`, two
    /// requests with the same key never both place an order: one places it, the other replays.
    func place(_ order: NewOrder, at now: Int64,
               idempotency: IdempotencyRequest<Order>?) async throws -> IdempotentResult<Order>

    /// The order with this id, or nil.
    func order(_ orderID: Int64) async throws -> Order?

    /// The user's latest `limit` orders, newest first.
    func orders(userID: Int64, limit: Int) async throws -> [Order]
}
