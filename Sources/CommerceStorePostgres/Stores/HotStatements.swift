import PostgresNIO

/// The statements of the two hot paths, prepared once per connection: PostgreSQL then parses
/// and plans them once instead of on every call (as it does for the other, unnamed, statements).

/// Records issuances of any coupons, skipping any a user already holds (see
/// `PostgresCouponStore.write`): the inserted rows come back.
struct InsertIssuances: PostgresPreparedStatement {
    static let sql = """
        INSERT INTO user_coupons (user_id, coupon_id, issued_at)
        SELECT t.user_id, t.coupon_id, t.issued_at
        FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS t(coupon_id, user_id, issued_at)
        JOIN coupons c ON c.id = t.coupon_id
        ORDER BY t.coupon_id, t.user_id
        ON CONFLICT (user_id, coupon_id) DO NOTHING
        RETURNING coupon_id, user_id, issued_at
        """
    static let bindingDataTypes: [PostgresDataType] = [.int8Array, .int8Array, .int8Array]
    typealias Row = (coupon: Int64, user: Int64, issuedAt: Int64)

    let coupons: [Int64]
    let users: [Int64]
    let times: [Int64]

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 3)
        try bindings.append(coupons)
        try bindings.append(users)
        try bindings.append(times)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        try row.decode((Int64, Int64, Int64).self)
    }
}

/// Places an order with `place_order` (see ``PostgresSchema``).
struct PlaceOrder: PostgresPreparedStatement {
    static let sql = "SELECT * FROM place_order($1, $2, $3, $4, $5)"
    static let bindingDataTypes: [PostgresDataType] = [.int8, .int8Array, .int8Array, .int8, .int8]
    typealias Row = (orderID: Int64, position: Int64, subtotal: Int64, discount: Int64, total: Int64, balanceAfter: Int64,
                     names: [String], prices: [Int64])

    let userID: Int64
    let items: [Int64]
    let quantities: [Int64]
    let couponID: Int64?
    let now: Int64

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 5)
        try bindings.append(userID)
        try bindings.append(items)
        try bindings.append(quantities)
        try bindings.append(couponID)
        try bindings.append(now)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        try row.decode((Int64, Int64, Int64, Int64, Int64, Int64, [String], [Int64]).self)
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
