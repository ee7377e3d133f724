import GRDB

/// The database schema as named, ordered migrations. A migration that has shipped never changes:
/// later changes are new migrations appended here.
///
/// Money is INTEGER won; times are INTEGER milliseconds since the Unix epoch (UTC); soft deletes
/// use `deleted_at`.
enum Schema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: core tables", migrate: createCoreTables)
        migrator.registerMigration("v2: the orders table is the outbox", migrate: ordersAsOutbox)
        migrator.registerMigration("v3: a coupon's issuances readable from one index", migrate: issuancesByCoupon)
        migrator.registerMigration("v4: the store guards a coupon's stock", migrate: couponStockGuard)
        return migrator
    }

    private static func createCoreTables(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE users (
                id          INTEGER PRIMARY KEY CHECK (id > 0),
                created_at  INTEGER NOT NULL
            );

            CREATE TABLE items (
                id          INTEGER PRIMARY KEY AUTOINCREMENT,
                name        TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
                price       INTEGER NOT NULL CHECK (price BETWEEN 0 AND 1000000000),
                stock       INTEGER NOT NULL CHECK (stock BETWEEN 0 AND 1000000000),
                created_at  INTEGER NOT NULL,
                updated_at  INTEGER NOT NULL,
                deleted_at  INTEGER
            );

            CREATE TABLE user_point (
                user_id     INTEGER PRIMARY KEY REFERENCES users(id),
                balance     INTEGER NOT NULL CHECK (balance BETWEEN 0 AND 10000000000000),
                updated_at  INTEGER NOT NULL
            );

            CREATE TABLE point_history (
                id            INTEGER PRIMARY KEY AUTOINCREMENT,
                user_id       INTEGER NOT NULL REFERENCES users(id),
                kind          TEXT    NOT NULL CHECK (kind IN ('CHARGE', 'USE', 'REFUND')),
                amount        INTEGER NOT NULL,
                balance_after INTEGER NOT NULL CHECK (balance_after >= 0),
                order_id      INTEGER REFERENCES orders(id),
                created_at    INTEGER NOT NULL
            );
            CREATE INDEX point_history_by_user ON point_history(user_id, id);

            CREATE TABLE coupons (
                id             INTEGER PRIMARY KEY AUTOINCREMENT,
                name           TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
                discount_type  TEXT    NOT NULL CHECK (discount_type IN ('FIXED', 'PERCENT')),
                discount_value INTEGER NOT NULL CHECK (discount_value > 0),
                stock          INTEGER NOT NULL CHECK (stock BETWEEN 0 AND 1000000000),
                valid_from     INTEGER NOT NULL,
                valid_until    INTEGER NOT NULL CHECK (valid_until > valid_from),
                created_at     INTEGER NOT NULL
            );

            CREATE TABLE user_coupons (
                id         INTEGER PRIMARY KEY AUTOINCREMENT,
                user_id    INTEGER NOT NULL CHECK (user_id > 0),
                coupon_id  INTEGER NOT NULL REFERENCES coupons(id),
                issued_at  INTEGER NOT NULL,
                used_at    INTEGER,
                order_id   INTEGER REFERENCES orders(id),
                UNIQUE (user_id, coupon_id)
            );
            CREATE INDEX user_coupons_by_coupon ON user_coupons(coupon_id, user_id);

            CREATE TABLE orders (
                id            INTEGER PRIMARY KEY AUTOINCREMENT,
                user_id       INTEGER NOT NULL REFERENCES users(id),
                status        TEXT    NOT NULL CHECK (status IN ('PAID')),
                subtotal      INTEGER NOT NULL CHECK (subtotal >= 0),
                discount      INTEGER NOT NULL CHECK (discount >= 0),
                total         INTEGER NOT NULL CHECK (total >= 0),
                coupon_id     INTEGER REFERENCES coupons(id),
                balance_after INTEGER NOT NULL CHECK (balance_after >= 0),
                ordered_at    INTEGER NOT NULL
            );
            CREATE INDEX orders_by_user ON orders(user_id, id);
            CREATE INDEX orders_by_time ON orders(ordered_at);

            CREATE TABLE order_items (
                order_id    INTEGER NOT NULL REFERENCES orders(id),
                item_id     INTEGER NOT NULL REFERENCES items(id),
                name        TEXT    NOT NULL,
                quantity    INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
                unit_price  INTEGER NOT NULL CHECK (unit_price >= 0),
                line_total  INTEGER NOT NULL CHECK (line_total >= 0),
                PRIMARY KEY (order_id, item_id)
            ) WITHOUT ROWID;

            CREATE TABLE outbox (
                id          INTEGER PRIMARY KEY AUTOINCREMENT,
                order_id    INTEGER NOT NULL REFERENCES orders(id),
                payload     TEXT    NOT NULL,
                created_at  INTEGER NOT NULL,
                sent_at     INTEGER
            );
            CREATE INDEX outbox_unsent ON outbox(id) WHERE sent_at IS NULL;

            CREATE TABLE idempotency_keys (
                user_id        INTEGER NOT NULL,
                key            TEXT    NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
                request_hash   TEXT    NOT NULL,
                response_status INTEGER NOT NULL,
                response_body  BLOB    NOT NULL,
                created_at     INTEGER NOT NULL,
                PRIMARY KEY (user_id, key)
            ) WITHOUT ROWID;
            CREATE INDEX idempotency_keys_by_age ON idempotency_keys(created_at);
            """)
    }

    /// Orders are append-only and the writer is single, so order ids grow in commit order: the
    /// orders table itself is the outbox, and the relay only needs its read position. This
    /// saves every order an outbox row written twice (insert, then "sent") on the hot path;
    /// the event is built from the (immutable) order when it is published.
    private static func ordersAsOutbox(_ db: Database) throws {
        try db.execute(sql: """
            DROP TABLE outbox;
            CREATE TABLE outbox_cursor (
                stream         TEXT    PRIMARY KEY,
                last_order_id  INTEGER NOT NULL,
                updated_at     INTEGER NOT NULL
            ) WITHOUT ROWID;
            """)
    }

    /// The reconcile job reads a coupon's issuances a keyset page at a time in user order. With
    /// the issue time in the index, that never visits the table, whose rows lie in issue order:
    /// a visit per row was a random read per row, and made a million issuances superlinear.
    private static func issuancesByCoupon(_ db: Database) throws {
        try db.execute(sql: """
            DROP INDEX user_coupons_by_coupon;
            CREATE INDEX user_coupons_by_coupon ON user_coupons(coupon_id, user_id, issued_at);
            """)
    }

    /// The store is the truth (docs/design-notes.md): whatever Redis says, no more users hold a
    /// coupon than its stock. `issued` counts a coupon's rows, kept by triggers for every writer
    /// (the gate's batches, the reconcile job, a give-back's undo), and no statement can make
    /// it exceed `stock` (the writers take only what is left; the trigger is the last word).
    /// `terms_version` grows with every change of stock or window, so Redis applies changes in
    /// the store's order however late one arrives. `coupon_give_backs` holds issuances whose
    /// clients were told nothing was issued while Redis may still hold them: the reconcile job
    /// never records one as issued and finishes it in Redis. A coupon already held by more
    /// users than its stock (only possible before this guard) keeps its holders: its stock is
    /// raised to them, so nobody else gets it.
    private static func couponStockGuard(_ db: Database) throws {
        try db.execute(sql: """
            ALTER TABLE coupons ADD COLUMN issued INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE coupons ADD COLUMN terms_version INTEGER NOT NULL DEFAULT 1;
            UPDATE coupons SET issued = (SELECT COUNT(*) FROM user_coupons WHERE coupon_id = coupons.id);
            UPDATE coupons SET stock = issued WHERE issued > stock;
            CREATE TRIGGER coupons_issued_within_stock BEFORE UPDATE OF issued, stock ON coupons
            WHEN NEW.issued > NEW.stock OR NEW.issued < 0
            BEGIN SELECT RAISE(ABORT, 'coupon issued beyond its stock'); END;
            CREATE TRIGGER user_coupons_counted_in AFTER INSERT ON user_coupons
            BEGIN UPDATE coupons SET issued = issued + 1 WHERE id = NEW.coupon_id; END;
            CREATE TRIGGER user_coupons_counted_out AFTER DELETE ON user_coupons
            BEGIN UPDATE coupons SET issued = issued - 1 WHERE id = OLD.coupon_id; END;
            CREATE TABLE coupon_give_backs (
                coupon_id   INTEGER NOT NULL,
                user_id     INTEGER NOT NULL,
                issued_at   INTEGER NOT NULL,
                created_at  INTEGER NOT NULL,
                PRIMARY KEY (coupon_id, user_id, issued_at)
            ) WITHOUT ROWID;
            """)
    }
}
