/// Units sold per item, summed from the paid orders: the durable truth the sales ranking in Redis
/// is rebuilt from, and the answer while Redis is away.
public protocol SalesStore: Sendable {
    /// Units per item over the orders placed in `range` (ms since the epoch), by item id, for
    /// every item that sold (deleted ones too), together with an outbox position (see
    /// ``OutboxEntry``): the sums include exactly the orders at or below it, and every order
    /// above it is still to be handed out by the outbox.
    func unitsSold(placedIn range: Range<Int64>) async throws -> (sums: [ItemUnits], lastPosition: Int64)

    /// The `limit` live items that sold most in `range`, most units first, ties by smaller id.
    func bestSellers(placedIn range: Range<Int64>, limit: Int) async throws -> [(item: Item, units: Int64)]
}
