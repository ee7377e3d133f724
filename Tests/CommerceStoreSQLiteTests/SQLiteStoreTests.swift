import Foundation
import GRDB
import Testing
import TestSupport
@testable import CommerceStore
@testable import CommerceStoreSQLite

@Suite struct SQLiteStoreTests {
    @Test func migratesAnEmptyFileToEveryTable() async throws {
        try await withTemporaryDirectory { directory async throws in
            let database = try SQLiteStore(path: directory.appendingPathComponent("db/commerce.sqlite").path)
            let migrations = ["v1: core tables", "v2: the orders table is the outbox", "v3: a coupon's issuances readable from one index",
                              "v4: the store guards a coupon's stock"]
            #expect(try await database.appliedMigrations() == migrations)
            let tables = try await database.read { db in
                try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'grdb_%' ORDER BY name")
            }
            #expect(tables == ["coupon_give_backs", "coupons", "idempotency_keys", "items", "order_items", "orders", "outbox_cursor",
                               "point_history", "user_coupons", "user_point", "users"])
            let (journal, synchronous, foreignKeys) = try await database.pool.write { db in
                (try String.fetchOne(db, sql: "PRAGMA journal_mode"),
                 try Int.fetchOne(db, sql: "PRAGMA synchronous"),
                 try Bool.fetchOne(db, sql: "PRAGMA foreign_keys"))
            }
            #expect(journal == "wal")
            #expect(synchronous == 2, "synchronous=FULL")
            #expect(foreignKeys == true)
            // Opening again finds nothing left to migrate.
            let reopened = try SQLiteStore(path: directory.appendingPathComponent("db/commerce.sqlite").path)
            #expect(try await reopened.appliedMigrations() == migrations)
        }
    }

    /// A shop's database from before the guard: each coupon's holders are counted, and a coupon
    /// already held past its stock keeps its holders (its stock raised to them), so nobody else
    /// gets it; from then on no statement can pass the stock.
    @Test func theGuardMigrationCountsHoldersAndKeepsAnOversoldCouponsHolders() async throws {
        try await withTemporaryDirectory { directory async throws in
            let path = directory.appendingPathComponent("old.sqlite").path
            let old = try DatabaseQueue(path: path)
            try Schema.migrator.migrate(old, upTo: "v3: a coupon's issuances readable from one index")
            try await old.write { db in
                try db.execute(sql: """
                    INSERT INTO coupons (id, name, discount_type, discount_value, stock, valid_from, valid_until, created_at)
                    VALUES (1, 'fine', 'FIXED', 100, 5, 0, 10, 0), (2, 'oversold', 'FIXED', 100, 2, 0, 10, 0);
                    INSERT INTO user_coupons (user_id, coupon_id, issued_at) VALUES (1, 1, 1), (2, 1, 1), (1, 2, 1), (2, 2, 1), (3, 2, 1);
                    """)
            }
            try old.close()
            let store = try SQLiteStore(path: path)
            let counts = try await store.read { db in
                try Row.fetchAll(db, sql: "SELECT stock, issued, terms_version FROM coupons ORDER BY id").map { [$0[0], $0[1], $0[2]] as [Int64] }
            }
            #expect(counts == [[5, 2, 1], [3, 3, 1]])
            #expect(throws: DatabaseError.self) {
                try store.pool.write { try $0.execute(sql: "INSERT INTO user_coupons (user_id, coupon_id, issued_at) VALUES (4, 2, 2)") }
            }
            #expect(throws: DatabaseError.self) {
                try store.pool.write { try $0.execute(sql: "UPDATE coupons SET stock = 1 WHERE id = 1") }
            }
        }
    }

    @Test func schemaRefusesNegativeStockAndBalances() async throws {
        try await withTemporaryDirectory { directory async throws in
            let database = try SQLiteStore(path: directory.appendingPathComponent("c.sqlite").path)
            try await database.pool.write { db in
                try db.execute(sql: "INSERT INTO users (id, created_at) VALUES (1, 0)")
                #expect(throws: DatabaseError.self) {
                    try db.execute(sql: "INSERT INTO items (name, price, stock, created_at, updated_at) VALUES ('x', 1, -1, 0, 0)")
                }
                #expect(throws: DatabaseError.self) {
                    try db.execute(sql: "INSERT INTO user_point (user_id, balance, updated_at) VALUES (1, -5, 0)")
                }
                #expect(throws: DatabaseError.self) {
                    try db.execute(sql: "INSERT INTO user_point (user_id, balance, updated_at) VALUES (1, 10000000000001, 0)")
                }
            }
        }
    }
}
