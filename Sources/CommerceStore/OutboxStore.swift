/// Paid orders waiting to be handed to each outbox sink (the data-platform stream, the sales
/// ranking). Each sink has a cursor: the last order it took.
///
/// Driver obligation — **commit order**: ``pending(sink:limit:)`` hands out orders in the order
/// their transactions committed, and an order is never handed out after a later-committed one
/// was passed by the cursor. The sinks rely on it: each keeps one watermark (the highest order
/// id it took) and skips anything at or below it. SQLite meets it with its single writer: order
/// ids grow in commit order. A driver with concurrent writers must not hand out an order while
/// a transaction that could commit a smaller id is still in flight.
///
/// Delivery is at least once: every order after the cursor is handed out again until
/// ``markSent(sink:through:at:)`` moves the cursor past it, exactly as many times as asked.
public protocol OutboxStore: Sendable {
    /// The sink's cursor and the next orders after it, at most `limit`, in commit order.
    func pending(sink: String, limit: Int) async throws -> (cursor: Int64, orders: [Order])

    /// Records that the sink has every order up to `lastOrderID` (the cursor never moves back).
    func markSent(sink: String, through lastOrderID: Int64, at now: Int64) async throws

    /// Moves the sink's cursor back to `lastOrderID`, so the orders after it are handed out again
    /// (the sink lost them).
    func rewind(sink: String, to lastOrderID: Int64, at now: Int64) async throws

    /// How many orders wait for the sink.
    func backlog(sink: String) async throws -> Int

    /// The last order the sink took (0: none yet).
    func cursor(sink: String) async throws -> Int64
}

/// Where the outbox relay hands committed orders: the data-platform stream, the sales ranking.
/// Each sink keeps its own cursor, so one that is behind does not hold the others back.
public protocol OutboxSink: Sendable {
    /// The sink's cursor name in the store, and its name in logs.
    var cursorName: String { get }

    /// Takes `orders` (in commit order, all after `cursor`). It must be idempotent: after a crash
    /// between this call and the cursor's move the same orders come again and must not count
    /// twice. Returns nil, or an order id to move the cursor back to when the sink finds it lost
    /// orders it had taken before.
    func deliver(_ orders: [Order], after cursor: Int64) async throws -> Int64?
}
