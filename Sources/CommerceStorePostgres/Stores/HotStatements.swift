import CommerceStore
import PostgresNIO

/// The statements of the two hot paths, prepared once per connection: PostgreSQL then parses
/// and plans them once instead of on every call (as it does for the other, unnamed, statements).

/// Records issuances of any coupons (see `PostgresCouponStore.write`), in the given order up to
/// each coupon's stock left, skipping any a user already holds: the inserted rows come back.
/// The coupons' rows are locked first (by id, so two processes never deadlock): a concurrent
/// statement waits, then sees the stock its predecessor left (READ COMMITTED re-reads a row it
/// waited for). The `issued` count moves in the same statement (the table's trigger), and the
/// coupons' CHECK would fail the statement before it could pass the stock. With `$4`, pending
/// give-backs are left out (the reconcile job's inserts; the gate's own never are one).
struct InsertIssuances: PostgresPreparedStatement {
    static let sql = """
        WITH batch AS (
            SELECT t.coupon_id, t.user_id, t.issued_at, t.ord
            FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) WITH ORDINALITY AS t(coupon_id, user_id, issued_at, ord)
        ), locked AS (
            SELECT c.id, c.stock - c.issued AS room FROM coupons c
            WHERE c.id IN (SELECT coupon_id FROM batch) ORDER BY c.id FOR UPDATE
        ), fresh AS (
            SELECT b.coupon_id, b.user_id, b.issued_at,
                   row_number() OVER (PARTITION BY b.coupon_id ORDER BY b.ord) AS place
            FROM batch b
            WHERE NOT EXISTS (SELECT 1 FROM user_coupons u WHERE u.user_id = b.user_id AND u.coupon_id = b.coupon_id)
            AND NOT ($4::boolean AND EXISTS (SELECT 1 FROM coupon_give_backs g
                     WHERE g.coupon_id = b.coupon_id AND g.user_id = b.user_id AND g.issued_at = b.issued_at))
        )
        INSERT INTO user_coupons (user_id, coupon_id, issued_at)
        SELECT f.user_id, f.coupon_id, f.issued_at FROM fresh f JOIN locked l ON l.id = f.coupon_id
        WHERE f.place <= l.room
        ORDER BY f.coupon_id, f.user_id
        ON CONFLICT (user_id, coupon_id) DO NOTHING
        RETURNING coupon_id, user_id, issued_at
        """
    static let bindingDataTypes: [PostgresDataType] = [.int8Array, .int8Array, .int8Array, .bool]
    typealias Row = (coupon: Int64, user: Int64, issuedAt: Int64)

    let coupons: [Int64]
    let users: [Int64]
    let times: [Int64]
    let skipGiveBacks: Bool

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 4)
        try bindings.append(coupons)
        try bindings.append(users)
        try bindings.append(times)
        try bindings.append(skipGiveBacks)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        try row.decode((Int64, Int64, Int64).self)
    }
}

/// What pricing an order needs (see `PostgresOrders.quote`), in one statement: a row per live
/// item ordered (one with a NULL item when none is), each with the user's balance and hold of
/// the coupon and its terms.
struct QuoteOrder: PostgresPreparedStatement {
    static let sql = """
        SELECT i.id, i.name, i.price, i.stock, b.balance,
               h.used, h.discount_type, h.discount_value, h.valid_from, h.valid_until, h.terms_version
        FROM (SELECT coalesce((SELECT balance FROM user_point WHERE user_id = $1), 0) AS balance) b
        LEFT JOIN LATERAL (
            SELECT uc.used_at IS NOT NULL AS used, c.discount_type, c.discount_value, c.valid_from, c.valid_until, c.terms_version
            FROM user_coupons uc JOIN coupons c ON c.id = uc.coupon_id
            WHERE uc.user_id = $1 AND uc.coupon_id = $2
        ) h ON true
        LEFT JOIN items i ON i.id = ANY($3) AND i.deleted_at IS NULL
        """
    static let bindingDataTypes: [PostgresDataType] = [.int8, .int8, .int8Array]
    typealias Row = (Int64?, String?, Int64?, Int64?, Int64, Bool?, String?, Int64?, Int64?, Int64?, Int64?)

    let userID: Int64
    let couponID: Int64?
    let items: [Int64]

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 3)
        try bindings.append(userID)
        try bindings.append(couponID)
        try bindings.append(items)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        try row.decode(Row.self)
    }
}

/// Writes a priced order with `carry_out_order` (see ``PostgresSchema``).
struct CarryOutOrder: PostgresPreparedStatement {
    static let sql = "SELECT * FROM carry_out_order($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    static let bindingDataTypes: [PostgresDataType] = [
        .int8, .int8Array, .int8Array, .int8Array, .textArray, .int8, .int8, .int8, .int8, .int8, .int8,
    ]
    typealias Row = (orderID: Int64, position: Int64, balanceAfter: Int64)

    let order: PricedOrder
    let now: Int64

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 11)
        try bindings.append(order.userID)
        try bindings.append(order.lines.map(\.itemID))
        try bindings.append(order.lines.map(\.quantity))
        try bindings.append(order.lines.map(\.unitPrice))
        try bindings.append(order.lines.map(\.name))
        try bindings.append(order.couponID)
        try bindings.append(order.couponTermsVersion)
        try bindings.append(order.subtotal)
        try bindings.append(order.discount)
        try bindings.append(order.total)
        try bindings.append(now)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        try row.decode((Int64, Int64, Int64).self)
    }
}

extension PostgresConnection {
    /// Every row of a prepared statement, decoded.
    func rows<Statement: PostgresPreparedStatement>(_ statement: Statement) async throws -> [Statement.Row] {
        try ensureOpen()
        var rows: [Statement.Row] = []
        for try await row in try await execute(statement, logger: Self.quiet) { rows.append(row) }
        return rows
    }
}
