import CommerceStore
import Logging
import PostgresNIO

extension PostgresConnection {
    /// Statements log nothing themselves: failures reach the caller, who logs what matters.
    static let quiet = Logger(label: "postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Runs a statement and drops what it returns.
    func run(_ query: PostgresQuery) async throws {
        try ensureOpen()
        _ = try await self.query(query, logger: Self.quiet).collect()
    }

    /// Every row the statement returns.
    func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try ensureOpen()
        return try await self.query(query, logger: Self.quiet).collect()
    }

    /// Refuses to send a statement on a connection known to be closed. postgres-nio 1.33 loses a
    /// statement written to a closed channel (the write's failure is dropped and the statement's
    /// promise never completes: vapor/postgres-nio#487, fixed and then reverted in #501), and its
    /// caller would wait forever: a relay that asked in the moment PostgreSQL stopped never asked
    /// again. A close in the instant between this look and the write can still lose one.
    func ensureOpen() throws {
        if isClosed { throw StoreError(.unavailable, "PostgreSQL closed the connection") }
    }

    /// The first column of the first row, or nil when there is no row (or it is NULL).
    func value<T: PostgresDecodable>(_ type: T.Type, _ query: PostgresQuery) async throws -> T? where T._DecodableType == T {
        guard let row = try await rows(query).first else { return nil }
        return try row.decode(Optional<T>.self)
    }

    /// The first column of every row.
    func values<T: PostgresDecodable>(_ type: T.Type, _ query: PostgresQuery) async throws -> [T] {
        try await rows(query).map { try $0.decode(T.self) }
    }
}
