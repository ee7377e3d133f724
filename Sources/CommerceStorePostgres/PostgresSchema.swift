import Foundation
import Logging
import PostgresNIO

/// The database schema as named, ordered migrations, recorded in `schema_migrations`. A
/// migration that has shipped never changes: later changes are new migrations appended here.
///
/// Money is bigint won; times are bigint milliseconds since the Unix epoch (UTC); soft deletes
/// use `deleted_at` — as in the SQLite driver, so both read the same.
enum PostgresSchema {
    static let migrations: [(name: String, statements: [String])] = [
        // A migration's statements end with ";" at the end of a line.
        ("v1: core tables", coreTables.components(separatedBy: ";\n")),
        ("v2: an order placed in one statement", [placeOrder]),
        ("v3: the store guards a coupon's stock", couponStockGuard),
        ("v4: orders priced above the driver", ["DROP FUNCTION place_order(bigint, bigint[], bigint[], bigint, bigint)", carryOutOrder]),
    ]

    /// Applies the pending migrations on one connection of its own, in one transaction, under an
    /// advisory lock: processes started together take turns, and the second finds nothing to do.
    static func migrate(_ url: PostgresURL, logger: Logger) async throws {
        var configuration = url.connectionConfiguration
        configuration.options.connectTimeout = .seconds(5)
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
        do {
            try await connection.run("BEGIN")
            try await connection.run("SELECT pg_advisory_xact_lock(\(lockKey))")
            try await connection.run("""
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    name text PRIMARY KEY, applied_order integer NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())
                """)
            let applied = Set(try await connection.values(String.self, "SELECT name FROM schema_migrations"))
            for (order, migration) in migrations.enumerated() where !applied.contains(migration.name) {
                // One statement at a time: the extended protocol takes one per message.
                for statement in migration.statements where !statement.allSatisfy(\.isWhitespace) {
                    try await connection.run(PostgresQuery(unsafeSQL: statement))
                }
                try await connection.run("INSERT INTO schema_migrations (name, applied_order) VALUES (\(migration.name), \(order))")
                logger.info("postgres: applied migration \(migration.name)")
            }
            try await connection.run("COMMIT")
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
    }

    /// As the SQLite driver's v4 (its comment says why): `issued` kept by statement-level
    /// triggers (one update of the coupon row per statement, not per row: a batch of 256 rows
    /// would otherwise rewrite the hot row 256 times), bounded by a CHECK that no writer can pass.
    private static let couponStockGuard = [
        "ALTER TABLE coupons ADD COLUMN issued bigint NOT NULL DEFAULT 0, ADD COLUMN terms_version bigint NOT NULL DEFAULT 1",
        "UPDATE coupons c SET issued = (SELECT count(*) FROM user_coupons u WHERE u.coupon_id = c.id)",
        "UPDATE coupons SET stock = issued WHERE issued > stock",
        "ALTER TABLE coupons ADD CONSTRAINT coupons_issued_within_stock CHECK (issued BETWEEN 0 AND stock)",
        """
        CREATE FUNCTION count_issuances() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'INSERT' THEN
            UPDATE coupons c SET issued = c.issued + n.count
            FROM (SELECT coupon_id, count(*) AS count FROM new_rows GROUP BY coupon_id) n WHERE c.id = n.coupon_id;
          ELSE
            UPDATE coupons c SET issued = c.issued - o.count
            FROM (SELECT coupon_id, count(*) AS count FROM old_rows GROUP BY coupon_id) o WHERE c.id = o.coupon_id;
          END IF;
          RETURN NULL;
        END $$
        """,
        """
        CREATE TRIGGER user_coupons_counted_in AFTER INSERT ON user_coupons
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_issuances()
        """,
        """
        CREATE TRIGGER user_coupons_counted_out AFTER DELETE ON user_coupons
        REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION count_issuances()
        """,
        """
        CREATE TABLE coupon_give_backs (
            coupon_id   bigint NOT NULL,
            user_id     bigint NOT NULL,
            issued_at   bigint NOT NULL,
            created_at  bigint NOT NULL,
            PRIMARY KEY (coupon_id, user_id, issued_at)
        )
        """,
    ]

    /// The advisory lock migrations take (any constant no other part takes).
    private static let lockKey: Int64 = 0x636f_6d6d_6572_6365

    private static let coreTables = """
        CREATE TABLE users (
            id          bigint PRIMARY KEY CHECK (id > 0),
            created_at  bigint NOT NULL
        );

        CREATE TABLE items (
            id          bigserial PRIMARY KEY,
            name        text   NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
            price       bigint NOT NULL CHECK (price BETWEEN 0 AND 1000000000),
            stock       bigint NOT NULL CHECK (stock BETWEEN 0 AND 1000000000),
            created_at  bigint NOT NULL,
            updated_at  bigint NOT NULL,
            deleted_at  bigint
        );

        CREATE TABLE user_point (
            user_id     bigint PRIMARY KEY REFERENCES users(id),
            balance     bigint NOT NULL CHECK (balance BETWEEN 0 AND 10000000000000),
            updated_at  bigint NOT NULL
        );

        CREATE TABLE coupons (
            id             bigserial PRIMARY KEY,
            name           text   NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
            discount_type  text   NOT NULL CHECK (discount_type IN ('FIXED', 'PERCENT')),
            discount_value bigint NOT NULL CHECK (discount_value > 0),
            stock          bigint NOT NULL CHECK (stock BETWEEN 0 AND 1000000000),
            valid_from     bigint NOT NULL,
            valid_until    bigint NOT NULL CHECK (valid_until > valid_from),
            created_at     bigint NOT NULL
        );

        -- txid: the placing transaction's id, the outbox's position (see PostgresOutboxStore).
        -- One order per transaction, so it is unique.
        CREATE TABLE orders (
            id            bigserial PRIMARY KEY,
            user_id       bigint NOT NULL REFERENCES users(id),
            status        text   NOT NULL CHECK (status IN ('PAID')),
            subtotal      bigint NOT NULL CHECK (subtotal >= 0),
            discount      bigint NOT NULL CHECK (discount >= 0),
            total         bigint NOT NULL CHECK (total >= 0),
            coupon_id     bigint REFERENCES coupons(id),
            balance_after bigint NOT NULL CHECK (balance_after >= 0),
            ordered_at    bigint NOT NULL,
            txid          bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint)
        );
        CREATE UNIQUE INDEX orders_by_txid ON orders(txid);
        CREATE INDEX orders_by_user ON orders(user_id, id);
        CREATE INDEX orders_by_time ON orders(ordered_at);

        CREATE TABLE point_history (
            id            bigserial PRIMARY KEY,
            user_id       bigint NOT NULL REFERENCES users(id),
            kind          text   NOT NULL CHECK (kind IN ('CHARGE', 'USE', 'REFUND')),
            amount        bigint NOT NULL,
            balance_after bigint NOT NULL CHECK (balance_after >= 0),
            order_id      bigint REFERENCES orders(id),
            created_at    bigint NOT NULL
        );
        CREATE INDEX point_history_by_user ON point_history(user_id, id);

        -- coupon_id has no foreign key on purpose: each issuance's key check would lock the hot
        -- coupon's row in KEY SHARE mode from every concurrent batch, which PostgreSQL keeps as
        -- MultiXacts, and a flash sale is exactly many concurrent batches on one coupon. Rows are
        -- only written for a coupon that exists (recordIssues joins coupons), and a coupon is only
        -- deleted while nobody holds it (before it was ever published).
        CREATE TABLE user_coupons (
            id         bigserial PRIMARY KEY,
            user_id    bigint NOT NULL CHECK (user_id > 0),
            coupon_id  bigint NOT NULL,
            issued_at  bigint NOT NULL,
            used_at    bigint,
            order_id   bigint REFERENCES orders(id),
            UNIQUE (user_id, coupon_id)
        );
        CREATE INDEX user_coupons_by_coupon ON user_coupons(coupon_id, user_id) INCLUDE (issued_at);

        CREATE TABLE order_items (
            order_id    bigint NOT NULL REFERENCES orders(id),
            item_id     bigint NOT NULL REFERENCES items(id),
            name        text   NOT NULL,
            quantity    bigint NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
            unit_price  bigint NOT NULL CHECK (unit_price >= 0),
            line_total  bigint NOT NULL CHECK (line_total >= 0),
            PRIMARY KEY (order_id, item_id)
        );

        CREATE TABLE outbox_cursor (
            stream         text   PRIMARY KEY,
            last_position  bigint NOT NULL,
            updated_at     bigint NOT NULL
        );

        CREATE TABLE idempotency_keys (
            user_id         bigint  NOT NULL,
            key             text    NOT NULL CHECK (char_length(key) BETWEEN 1 AND 200),
            request_hash    text    NOT NULL,
            response_status integer NOT NULL,
            response_body   bytea   NOT NULL,
            created_at      bigint  NOT NULL,
            PRIMARY KEY (user_id, key)
        );
        CREATE INDEX idempotency_keys_by_age ON idempotency_keys(created_at);
        """
}
