import CommerceStore
import CommerceStorePostgres
@testable import CommerceStoreSQLite
import Foundation
import GRDB
import Logging
import TestSupport

/// The database the end-to-end suites run on: SQLite unless `COMMERCE_TEST_DATABASE=postgres`
/// (scripts/test runs these suites once per driver).
enum TestDatabase: String, Sendable {
    case sqlite, postgres

    static let current = TestDatabase(rawValue: ProcessInfo.processInfo.environment["COMMERCE_TEST_DATABASE"] ?? "") ?? .sqlite

    /// For tests that reach into SQLite itself (a second connection holding its lock).
    static var isSQLite: Bool { current == .sqlite }
    static var isPostgres: Bool { current == .postgres }

    /// A fresh, empty store of the current kind (not running yet); its `--db` value; and the
    /// test's own way to run SQL on it. With `through` (PostgreSQL), the store connects through
    /// that fault proxy's port; the test's own SQL goes straight to the server.
    static func open(in directory: URL, busyTimeout: TimeInterval,
                     through proxy: FaultProxy? = nil) async throws -> (any StoreDriver, String, TestSQL) {
        switch current {
        case .sqlite:
            let path = directory.appendingPathComponent("c.sqlite").path
            let store = try SQLiteStore(path: path, busyTimeout: busyTimeout)
            return (store, path, .sqlite(store.pool))
        case .postgres:
            let server = try await PostgresServer.shared()
            let database = try server.freshDatabase()
            let url = server.url(database: database)
            let storeURL = proxy.map { url.replacingOccurrences(of: ":\(server.port)/", with: ":\($0.port)/") } ?? url
            return (try await PostgresStore(url: storeURL, logger: Logger(label: "test")), url, .postgres(server, database: database))
        }
    }
}

/// SQL a test runs on the store's database itself: to look at what no route shows, or to break
/// something on purpose. Numbers are written into the SQL, which both databases read the same.
enum TestSQL: Sendable {
    case sqlite(DatabasePool)
    case postgres(PostgresServer, database: String)

    func execute(_ sql: String) async throws {
        switch self {
        case .sqlite(let pool): try await pool.write { try $0.execute(sql: sql) }
        case .postgres(let server, let database): _ = try server.query(sql, database: database)
        }
    }

    /// The first column of the rows, as text (NULL as "").
    func strings(_ sql: String) async throws -> [String] {
        switch self {
        case .sqlite(let pool):
            return try await pool.read { db in
                try Row.fetchAll(db, sql: sql).map { row in
                    switch (row[0] as DatabaseValue).storage {
                    case .null: ""
                    case .int64(let value): "\(value)"
                    case .double(let value): "\(value)"
                    case .string(let value): value
                    case .blob(let value): String(decoding: value, as: UTF8.self)
                    }
                }
            }
        case .postgres(let server, let database):
            return try server.query(sql, database: database)
        }
    }

    /// The first column of the first row as a number (nil: no row, or NULL).
    func int(_ sql: String) async throws -> Int64? {
        try await strings(sql).first.flatMap { Int64($0) }
    }
}
