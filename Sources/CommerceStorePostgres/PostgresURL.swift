import Foundation
import PostgresNIO

/// `postgres://USER[:PASSWORD]@HOST:PORT/DBNAME` (also `postgresql://`), parsed.
struct PostgresURL: Sendable {
    let host: String
    let port: Int
    let user: String
    let password: String?
    let database: String

    init(_ text: String) throws {
        guard let url = URLComponents(string: text), let scheme = url.scheme, ["postgres", "postgresql"].contains(scheme) else {
            throw StoreURLError("\(text) is not a postgres://USER[:PASSWORD]@HOST:PORT/DBNAME URL")
        }
        guard let host = url.host, !host.isEmpty else { throw StoreURLError("\(text) names no host") }
        guard let user = url.user, !user.isEmpty else { throw StoreURLError("\(text) names no user (postgres://USER@HOST:PORT/DBNAME)") }
        let database = url.path.hasPrefix("/") ? String(url.path.dropFirst()) : url.path
        guard !database.isEmpty, !database.contains("/") else {
            throw StoreURLError("\(text) names no database (postgres://USER@HOST:PORT/DBNAME)")
        }
        self.host = host
        port = url.port ?? 5432
        self.user = user.removingPercentEncoding ?? user
        password = url.password.map { $0.removingPercentEncoding ?? $0 }
        self.database = database
    }

    /// The pool's configuration. Without TLS: the deployments this serves reach PostgreSQL over
    /// loopback or a private network (see the README on pointing `serve` at an existing PostgreSQL).
    var clientConfiguration: PostgresClient.Configuration {
        PostgresClient.Configuration(host: host, port: port, username: user, password: password, database: database, tls: .disable)
    }

    /// One connection's configuration (the migrations' own), as ``clientConfiguration``.
    var connectionConfiguration: PostgresConnection.Configuration {
        PostgresConnection.Configuration(host: host, port: port, username: user, password: password, database: database, tls: .disable)
    }
}

/// A `--db` value that is not a usable PostgreSQL URL.
public struct StoreURLError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
