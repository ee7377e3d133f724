import Logging
import PostgresNIO

extension PostgresConnection {
    /// Statements log nothing themselves: failures reach the caller, who logs what matters.
    static let quiet = Logger(label: "postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Runs a statement and drops what it returns.
    func run(_ query: PostgresQuery) async throws {
        _ = try await self.query(query, logger: Self.quiet).collect()
    }

    /// Every row the statement returns.
    func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await self.query(query, logger: Self.quiet).collect()
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
