/// An order as the outbox hands it out: with its place in commit order.
public struct OutboxEntry: Sendable, Hashable {
    /// Grows with commit order: an order committed later has a larger position. Cursors and the
    /// sinks' watermarks are positions. What it is belongs to the driver (SQLite: the order id;
    /// PostgreSQL: the id of the transaction that placed the order).
    public var position: Int64
    public var order: Order

    public init(position: Int64, order: Order) {
        self.position = position
        self.order = order
    }
}

/// Paid orders waiting to be handed to each outbox sink (the data-platform stream, the sales
/// ranking). Each sink has a cursor: the position (see ``OutboxEntry``) of the last order it took.
///
/// Driver obligation — **commit order**: ``pending(sink:limit:)`` hands out orders by position,
/// and an order is never handed out with a position at or below one already handed out — not
/// even when it commits later. The sinks rely on it: each keeps one watermark (the highest
/// position it took) and skips anything at or below it. SQLite meets it with its single writer:
/// order ids grow in commit order. A driver with concurrent writers must not hand out an
/// order while a transaction that could still commit a smaller position is in flight.
///
/// Delivery is at least once: every order after the cursor is handed out again until
/// ``markSent(sink:through:at:)`` moves the cursor past it, exactly as many times as asked.
public protocol OutboxStore: Sendable {
    /// The sink's cursor and the next orders after it, at most `limit`, by position.
    func pending(sink: String, limit: Int) async throws -> (cursor: Int64, entries: [OutboxEntry])

    /// Records that the sink has every order up to `position` (the cursor never moves back).
    func markSent(sink: String, through position: Int64, at now: Int64) async throws

    /// Moves the sink's cursor back to `position`, so the orders after it are handed out again
    /// (the sink lost them).
    func rewind(sink: String, to position: Int64, at now: Int64) async throws

    /// How many orders wait for the sink (that it could be handed now).
    func backlog(sink: String) async throws -> Int

    /// The position of the last order the sink took (0: none yet).
    func cursor(sink: String) async throws -> Int64
}

/// Where the outbox relay hands committed orders: the data-platform stream, the sales ranking.
/// Each sink keeps its own cursor, so one that is behind does not hold the others back.
public protocol OutboxSink: Sendable {
    /// The sink's cursor name in the store, and its name in logs.
    var cursorName: String { get }

    /// Takes `entries` (by position, all after `cursor`). It must be idempotent: after a crash
    /// between this call and the cursor's move the same orders come again and must not count
    /// twice. Returns nil, or a position to move the cursor back to when the sink finds it lost
    /// orders it had taken before.
    func deliver(_ entries: [OutboxEntry], after cursor: Int64) async throws -> Int64?
}
