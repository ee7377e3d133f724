import CommerceStore
import PostgresNIO

/// Sorts PostgreSQL's errors into the store's: "cannot now" is ``StoreError/Code/unavailable``.
enum PostgresErrors {
    static func mapped(_ error: any Error) -> any Error {
        switch error {
        case is CommerceError, is StoreError, is OrderQuoteStale, is CancellationError, is PostgresDecodingError:
            return error
        case let error as PSQLError where error.code == .server:
            let state = error.serverInfo?[.sqlState] ?? ""
            guard isTransient(sqlState: state) else { return PostgresStatementFailed(error) }
            return StoreError(.unavailable, "PostgreSQL: \(error.serverInfo?[.message] ?? state) (\(state))")
        default:
            // The connection failed, closed, or could not be made: nothing was committed by
            // this request (a COMMIT whose answer was lost is the one ambiguous case, as with
            // any client/server database).
            return StoreError(.unavailable, "PostgreSQL: \(String(reflecting: error))")
        }
    }

    /// SQLSTATE classes that say "the server cannot do it now", not "the statement is wrong":
    /// connection exceptions, insufficient resources, operator intervention (shutdown), system
    /// errors, read-only transactions (a standby), serialization failures and deadlocks.
    private static func isTransient(sqlState state: String) -> Bool {
        ["08", "53", "57", "58"].contains(String(state.prefix(2))) || ["25006", "40001", "40P01"].contains(state)
    }
}

/// A statement PostgreSQL refused for a reason of its own (a bug on our side, not an outage):
/// PSQLError's description hides the server's message, which the logs need.
struct PostgresStatementFailed: Error, CustomStringConvertible {
    let description: String

    init(_ error: PSQLError) {
        let info = error.serverInfo
        description = "PostgreSQL refused a statement: \(info?[.message] ?? "?") (SQLSTATE \(info?[.sqlState] ?? "?"))"
            + (info?[.detail].map { "; \($0)" } ?? "") + (error.query.map { "; in: \($0.sql)" } ?? "")
    }
}
