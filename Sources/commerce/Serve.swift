import ArgumentParser
import BearerTokens
import CommerceAPI
import CommerceCore
import Foundation
import CouponGate
import Hummingbird
import Logging

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the HTTP service.",
        discussion: "SIGTERM or SIGINT stops it gracefully: in-flight requests finish and pending writes are committed."
    )

    @Option(help: "Address to listen on. (env: COMMERCE_HOST, default: 127.0.0.1)")
    var host: String?

    @Option(help: "Port to listen on. (env: COMMERCE_PORT, default: 8080)")
    var port: Int?

    @OptionGroup var stores: StoreOptions

    @OptionGroup var connections: ConnectionOptions

    @OptionGroup var timeZone: TimeZoneOption

    @Option(help: "Most write requests committed in one SQLite transaction; 1 turns group commit off. (env: COMMERCE_WRITE_BATCH, default: 512)")
    var writeBatch: Int?

    @Option(help: "trace, debug, info (one line per request), notice, warning, error or critical. (env: COMMERCE_LOG_LEVEL, default: info)")
    var logLevel: String?

    @Option(help: "Local time (in --timezone) of the nightly reconcile, HH:MM, or off. With several servers one runs it. (env: COMMERCE_RECONCILE_AT, default: 03:00)")
    var reconcileAt: String?

    @OptionGroup var tokens: TokenOptions

    @Option(help: "JSON Web Key Set file of your identity provider: RS256 and ES256 tokens signed by its keys (chosen by `kid`) are accepted; re-read when it changes. Without --jwt-secret, HS256 tokens are refused. (env: COMMERCE_JWKS)")
    var jwks: String?

    @Flag(help: "Run without a JWT secret: no tokens are checked and every request acts as an admin. For a developer's own machine only. (env: COMMERCE_INSECURE_DEV=true)")
    var insecureDev = false

    @Option(help: "Rate limit of POST /coupons/issue per user: RATE:BURST (requests a second, bucket size), or off. (env: COMMERCE_ISSUE_LIMIT_USER, default: \(IssueRateLimits.standard.perUser!))")
    var issueLimitUser: String?

    @Option(help: "Rate limit of POST /coupons/issue per client address: RATE:BURST, or off. Behind a proxy not named by --trusted-proxy every request shares its address. (env: COMMERCE_ISSUE_LIMIT_ADDRESS, default: \(IssueRateLimits.standard.perAddress!))")
    var issueLimitAddress: String?

    @Option(help: "Proxies (load balancers) whose X-Forwarded-For header gives the client address: CIDR[,CIDR...], e.g. 10.0.0.0/8,::1. From anyone else the header is ignored. (env: COMMERCE_TRUSTED_PROXY, default: none)")
    var trustedProxy: String?

    func run() async throws {
        LoggingSystem.bootstrap(StandardOutputLogHandler.init)
        let host = try resolve(host, env: "COMMERCE_HOST", default: "127.0.0.1")
        let port = try resolve(port, env: "COMMERCE_PORT", default: 8080)
        guard (1...65535).contains(port) else { throw ValidationError("--port must be 1...65535") }
        let zone = try timeZone.resolvedTimeZone()
        let writeBatch = try resolve(writeBatch, env: "COMMERCE_WRITE_BATCH", default: 512)
        guard writeBatch >= 1 else { throw ValidationError("--write-batch must be at least 1") }
        let levelName = try resolve(logLevel, env: "COMMERCE_LOG_LEVEL", default: "info")
        guard let level = Logger.Level(rawValue: levelName) else {
            throw ValidationError("--log-level \(levelName) is not one of trace, debug, info, notice, warning, error, critical")
        }

        let reconcileText = try resolve(reconcileAt, env: "COMMERCE_RECONCILE_AT", default: "03:00")
        let reconcileTime = ReconcileTime(reconcileText)
        guard reconcileTime != nil || reconcileText == "off" else {
            throw ValidationError("--reconcile-at \(reconcileText) is not HH:MM (e.g. 03:00) or off")
        }

        let (openFilesBefore, openFiles) = OpenFileLimit.raiseSoftToHard()
        let connectionLimits = try connections.resolved(openFiles: openFiles)
        var logger = Logger(label: "commerce")
        logger.logLevel = level
        let raised = openFiles.soft > openFilesBefore.soft ? "raised from \(openFilesBefore.soft) to \(openFiles.soft)" : "\(openFiles.soft)"
        logger.notice("""
            open files: soft limit \(raised) (hard limit \(openFiles.hardText)); up to \(connectionLimits.maxConnections) client \
            connections, the rest kept for Redis, the database and the runtime; timeouts: headers \(connectionLimits.headerTimeout), \
            body \(connectionLimits.bodyTimeout), idle \(connectionLimits.idleTimeout)
            """)

        let configuration = AppConfiguration(
            host: host, port: port,
            redis: try stores.resolvedRedis(),
            timeZone: zone, logLevel: level, reconcileAt: reconcileTime,
            authentication: try await resolvedAuthentication(logger: logger),
            issueLimits: IssueRateLimits(
                perUser: try limit(issueLimitUser, env: "COMMERCE_ISSUE_LIMIT_USER", flag: "--issue-limit-user",
                                   default: IssueRateLimits.standard.perUser!),
                perAddress: try limit(issueLimitAddress, env: "COMMERCE_ISSUE_LIMIT_ADDRESS", flag: "--issue-limit-address",
                                      default: IssueRateLimits.standard.perAddress!)),
            trustedProxies: try resolvedTrustedProxies(),
            connections: connectionLimits
        )
        try await configuration.redis.refuseClusterNodeAsSingleServer(logger: logger)
        let location = try stores.resolvedDatabase()
        let store = try await stores.openStore(location, writeBatch: writeBatch, logger: logger)
        logger.notice("database: \(store.name) at \(location)")
        let app = try await buildApplication(configuration, store: store)
        try await app.runService()
        app.logger.info("stopped: requests drained, pending writes committed")
    }

    /// Tokens with the configured secret and/or key set; without either the server refuses to
    /// start unless `--insecure-dev` says that no tokens is what is wanted.
    private func resolvedAuthentication(logger: Logger) async throws -> AuthenticationMode {
        let insecure = try insecureDev || resolve(nil as Bool?, env: "COMMERCE_INSECURE_DEV", default: false)
        let keySetPath = try resolve(jwks, env: "COMMERCE_JWKS", default: "")
        let keySet = keySetPath.isEmpty ? nil : KeySetFile(path: keySetPath)
        switch (try await tokens.resolvedTokens(keySet: keySet, logger: logger), insecure) {
        case (let tokens?, false): return .tokens(tokens)
        case (nil, true): return .insecureDev
        case (_?, true): throw ValidationError("--insecure-dev and a JWT secret or key set (--jwks) exclude each other; drop one")
        case (nil, false):
            throw ValidationError("""
                no JWT secret: set COMMERCE_JWT_SECRET or --jwt-secret (at least 32 bytes, e.g. `openssl rand -hex 32`), \
                or --jwks with your identity provider's key set, or pass --insecure-dev to run without tokens on your own machine
                """)
        }
    }

    private func resolvedTrustedProxies() throws -> TrustedProxies {
        let text = try resolve(trustedProxy, env: "COMMERCE_TRUSTED_PROXY", default: "")
        guard !text.isEmpty else { return .none }
        guard let proxies = TrustedProxies(text) else {
            throw ValidationError("--trusted-proxy \(text) is not a list of networks CIDR[,CIDR...] (e.g. 10.0.0.0/8,::1)")
        }
        return proxies
    }

    private func limit(_ flag: String?, env: String, flag name: String, default value: TokenBucket) throws -> TokenBucket? {
        let text = try resolve(flag, env: env, default: value.description)
        if text == "off" { return nil }
        guard let bucket = TokenBucket(text) else {
            throw ValidationError("\(name) \(text) is not RATE:BURST (e.g. 2:5; rate 0.001 to 1000000 a second, burst 1 to 1000000) or off")
        }
        return bucket
    }
}
