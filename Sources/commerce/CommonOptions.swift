import ArgumentParser
import BearerTokens
import CommerceAPI
import CommerceStore
import CommerceStorePostgres
import CommerceStoreSQLite
import Foundation
import Logging
import RedisClient

/// Resolves an option: the flag if given, else `COMMERCE_<NAME>` from the environment, else the
/// default. A malformed environment value is an error, not silently the default.
func resolve<T: ExpressibleByArgument>(_ flag: T?, env name: String, default value: T) throws -> T {
    if let flag { return flag }
    guard let text = ProcessInfo.processInfo.environment[name], !text.isEmpty else { return value }
    guard let parsed = T(argument: text) else {
        throw ValidationError("\(name)=\(text) is not a valid value")
    }
    return parsed
}

/// Where the durable store lives: a SQLite file, or a PostgreSQL database several processes share.
enum DatabaseLocation: CustomStringConvertible {
    case sqlite(path: String)
    case postgres(url: String)

    /// `postgres://...` (or `postgresql://`), else a SQLite path, with or without `sqlite:`.
    init(_ text: String) {
        if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            self = .postgres(url: text)
        } else {
            self = .sqlite(path: text.hasPrefix("sqlite:") ? String(text.dropFirst("sqlite:".count)) : text)
        }
    }

    /// For logs: the path, or the URL without its password.
    var description: String {
        switch self {
        case .sqlite(let path): return path
        case .postgres(let url):
            guard var parts = URLComponents(string: url), parts.password != nil else { return url }
            parts.password = "***"
            return parts.string ?? "postgres://..."
        }
    }
}

/// `--db` and `--redis`, shared by every command that touches the two stores.
struct StoreOptions: ParsableArguments {
    @Option(name: .customLong("db"), help: """
        SQLite database file (created if missing; `sqlite:PATH` too), or postgres://USER[:PASSWORD]@HOST:PORT/DBNAME         for a PostgreSQL database that several `serve` processes share. (env: COMMERCE_DB, default: ./var/commerce.sqlite)
        """)
    var database: String?

    @OptionGroup var redisOption: RedisOption

    func resolvedDatabase() throws -> DatabaseLocation {
        DatabaseLocation(try resolve(database, env: "COMMERCE_DB", default: "./var/commerce.sqlite"))
    }

    /// The store at `location`, opened and migrated: the executable is where the driver is
    /// chosen. `writeBatch`: requests per group-commit transaction (SQLite).
    func openStore(_ location: DatabaseLocation, writeBatch: Int = 512, logger: Logger) async throws -> any StoreDriver {
        switch location {
        case .sqlite(let path):
            return try SQLiteStore(path: path, maxBatch: writeBatch)
        case .postgres(let url):
            do {
                return try await PostgresStore(url: url, logger: logger)
            } catch let error as StoreURLError {
                throw ValidationError("--db: \(error)")
            }
        }
    }

    func resolvedRedis() throws -> RedisConfiguration {
        try redisOption.resolvedRedis()
    }
}

/// `--redis`, for commands that need Redis only.
struct RedisOption: ParsableArguments {
    @Option(help: "Redis URL: redis://[:password@]host:port/db for one server, or redis+cluster://[:password@]host:port[,host:port...] (seed nodes) for a Redis Cluster. (env: COMMERCE_REDIS, default: redis://127.0.0.1:6379/0)")
    var redis: String?

    func resolvedRedis() throws -> RedisConfiguration {
        let url = try resolve(redis, env: "COMMERCE_REDIS", default: "redis://127.0.0.1:6379/0")
        do {
            return try RedisConfiguration(url: url)
        } catch {
            throw ValidationError(error.message)
        }
    }
}

/// `--timezone`: the zone whose calendar days the sales ranking counts.
struct TimeZoneOption: ParsableArguments {
    @Option(help: "Time zone whose calendar days the sales ranking counts, e.g. Asia/Seoul. (env: COMMERCE_TIMEZONE, default: UTC)")
    var timezone: String?

    func resolvedTimeZone() throws -> TimeZone {
        let name = try resolve(timezone, env: "COMMERCE_TIMEZONE", default: "UTC")
        guard let zone = TimeZone(identifier: name) else {
            throw ValidationError("--timezone \(name) is not a known time zone (try Asia/Seoul or UTC)")
        }
        return zone
    }
}

/// `--jwt-secret`, `--jwt-issuer` and `--jwt-audience`, shared by `serve` (verifies tokens) and
/// `token` (signs them, with the `iss` and `aud` the server requires).
struct TokenOptions: ParsableArguments {
    @Option(help: "Secret that signs and verifies the HS256 bearer tokens, at least 32 bytes (e.g. `openssl rand -hex 32`). (env: COMMERCE_JWT_SECRET)")
    var jwtSecret: String?

    @Option(help: "Issuer every token must name as `iss`, e.g. your identity provider's URL. (env: COMMERCE_JWT_ISSUER, default: not checked)")
    var jwtIssuer: String?

    @Option(help: "Audience every token's `aud` must include, e.g. this service's client id at the identity provider. (env: COMMERCE_JWT_AUDIENCE, default: not checked)")
    var jwtAudience: String?

    /// The tokens for the configured secret and `keySet`, or nil when neither is configured.
    func resolvedTokens(keySet: KeySetFile? = nil, logger: Logger? = nil) async throws -> AccessTokens? {
        let secret = try resolve(jwtSecret, env: "COMMERCE_JWT_SECRET", default: "")
        guard !secret.isEmpty || keySet != nil else { return nil }
        let issuer = try resolve(jwtIssuer, env: "COMMERCE_JWT_ISSUER", default: "")
        let audience = try resolve(jwtAudience, env: "COMMERCE_JWT_AUDIENCE", default: "")
        do {
            return try await AccessTokens(secret: secret.isEmpty ? nil : secret, keySet: keySet,
                                          issuer: issuer.isEmpty ? nil : issuer, audience: audience.isEmpty ? nil : audience,
                                          logger: logger)
        } catch {
            throw ValidationError(error.reason)
        }
    }
}
