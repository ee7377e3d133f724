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
            let migrations = ["v1: core tables", "v2: the orders table is the outbox", "v3: a coupon's issuances readable from one index"]
            #expect(try await database.appliedMigrations() == migrations)
            let tables = try await database.read { db in
                try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'grdb_%' ORDER BY name")
            }
            #expect(tables == ["coupons", "idempotency_keys", "items", "order_items", "orders", "outbox_cursor",
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
