import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// A client of one Redis server: concurrent callers' commands are pipelined over a small pool of
/// connections, and replies are matched to callers in order.
///
/// Connections open lazily on first use and reopen after Redis restarts. While Redis is
/// unreachable, calls fail fast with a ``RedisError`` whose ``RedisError/isUnavailable`` is true;
/// a command without a reply within ``RedisConfiguration/commandTimeout`` fails with `.timeout`.
///
/// As a `Service` it closes its connections on graceful shutdown; it works without being run.
/// The cluster client keeps one per primary.
public final class RedisNodeClient: RedisClient {
    public let configuration: RedisConfiguration
    /// `host:port`, the server's name for the data guard.
    public let address: String
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let slots: [ConnectionSlot]
    private let nextSlot = Atomic<Int>(0)
    /// Told of every new connection's server before the connection serves anyone.
    private let dataGuard: RedisDataGuard?
    /// The key of this server's data marker (in a cluster it depends on the slots it serves now).
    private let markerKey: @Sendable () -> String
    /// Connections given up on with commands in flight, killed on the server before anything
    /// else is sent to it.
    private let fences = ConnectionFences()

    /// - Parameter dataGuard: verified on every new connection, before the connection serves
    ///   anyone, so that a restarted Redis is never used as if it held the data of the old one.
    public convenience init(
        configuration: RedisConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "redis"),
        dataGuard: RedisDataGuard? = nil
    ) {
        let markerKey = dataGuard?.markerKey ?? ""
        self.init(configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger, dataGuard: dataGuard,
                  markerKey: { markerKey })
        dataGuard?.track(servers: [address])
    }

    init(
        configuration: RedisConfiguration, eventLoopGroup: any EventLoopGroup, logger: Logger,
        dataGuard: RedisDataGuard?, markerKey: @escaping @Sendable () -> String
    ) {
        self.configuration = configuration
        self.address = configuration.endpoint.description
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.dataGuard = dataGuard
        self.markerKey = markerKey
        self.slots = (0..<max(1, configuration.poolSize)).map { _ in ConnectionSlot(logger: logger) }
    }

    public func send(_ command: RedisCommand, requiringTrustedData: Bool) async throws -> RedisReply {
        try await send(command, asking: false, requiringTrustedData: requiringTrustedData)
    }

    /// With `asking`, `ASKING` goes first on the same connection (a cluster's answer to `ASK`:
    /// this server is importing the slot and serves the next command for it).
    func send(_ command: RedisCommand, asking: Bool, requiringTrustedData: Bool) async throws -> RedisReply {
        let slot = slots[nextSlot.wrappingAdd(1, ordering: .relaxed).oldValue % slots.count]
        let connection = try await slot.connection(backoff: configuration.reconnectBackoff) { try await self.connect() }
        if requiringTrustedData, let dataGuard, !dataGuard.isTrusted(server: address) {
            throw RedisError(.untrustedData, dataGuard.distrust ?? "the data is not trusted")
        }
        try await fences.raise(on: connection, timeout: configuration.commandTimeout)
        return try await connection.send(command, asking: asking, timeout: configuration.commandTimeout)
    }

    public func run(_ script: RedisScript, keys: [String], args: [RedisArgument], requiringTrustedData: Bool) async throws -> RedisReply {
        try await run(script, keys: keys, args: args, asking: false, requiringTrustedData: requiringTrustedData)
    }

    /// Runs `script` here, loading it here when this server lacks it (restart, `SCRIPT FLUSH`, a
    /// cluster node that never ran it).
    func run(_ script: RedisScript, keys: [String], args: [RedisArgument], asking: Bool, requiringTrustedData: Bool) async throws -> RedisReply {
        let sha = if let known = script.loadedSHA { known } else { try await load(script) }
        do {
            return try await send(script.call(sha: sha, keys: keys, args: args), asking: asking, requiringTrustedData: requiringTrustedData)
        } catch let error as RedisError where error.isServerError("NOSCRIPT") {
            let sha = try await load(script)
            return try await send(script.call(sha: sha, keys: keys, args: args), asking: asking, requiringTrustedData: requiringTrustedData)
        }
    }

    /// Loads `script` with `SCRIPT LOAD` (also useful at start-up, to fail early on a syntax error).
    @discardableResult
    public func load(_ script: RedisScript) async throws -> String {
        let reply = try await send("SCRIPT", "LOAD", RedisArgument(script.source))
        guard let sha = reply.string else {
            throw RedisError(.protocolError, "SCRIPT LOAD of \(script.name) returned \(reply)")
        }
        script.remember(sha)
        return sha
    }

    public func primaries() async throws -> [RedisNodeClient] { [self] }

    /// Verifies this server's data with the data guard (as every new connection does).
    public func verifyData() async throws {
        try await dataGuard?.verify(server: address, markerKey: markerKey()) { try await self.send($0) }
    }

    /// Writes `runID` into this server's data marker and tells the data guard: the service
    /// repaired this server's data while it ran as `runID`.
    public func markRepaired(runID: String) async throws {
        try await send("SET", .key(markerKey()), RedisArgument(runID))
        dataGuard?.repaired(server: address, runID: runID)
    }

    public func shutdown() {
        for slot in slots { slot.close() }
    }

    public func run() async throws {
        try? await gracefulShutdown()
        shutdown()
    }

    private func connect() async throws -> RedisConnection {
        let configuration = self.configuration
        let logger = self.logger
        let eventLoop = eventLoopGroup.any()
        let serverSide = ServerSideConnection()
        let fences = self.fences
        let abandoned: @Sendable () -> Void = {
            if let fence = serverSide.value { fences.add(fence) }
        }
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(configuration.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        RedisChannelHandler(commandTimeout: configuration.commandTimeout, abandonedInFlight: abandoned))
                }
            }
        // An IP literal needs no resolver round trip (which, on a busy machine, queues behind
        // other blocking work); names still go through the system resolver.
        let channel = if let address = try? SocketAddress(ipAddress: configuration.host, port: configuration.port) {
            bootstrap.connect(to: address)
        } else {
            bootstrap.connect(host: configuration.host, port: configuration.port)
        }
        let connected = channel
            .flatMapThrowing { channel in
                let handler = try channel.pipeline.syncOperations.handler(type: RedisChannelHandler.self)
                return RedisConnection(channel: channel, handler: NIOLoopBound(handler, eventLoop: channel.eventLoop))
            }
            .flatMapError { error in
                eventLoop.makeFailedFuture(RedisError(
                    .connectionFailed, "cannot connect to \(configuration.host):\(configuration.port): \(error)"))
            }
        let connection = try await connected.get()
        do {
            try await Self.prepare(connection, configuration)
            // Before Redis 6.2 there is no CLIENT INFO: such a connection cannot be fenced.
            if let info = try? await connection.send(RedisCommand("CLIENT", "INFO"), timeout: configuration.commandTimeout).string {
                serverSide.value = ConnectionFences.Fence(clientInfo: info)
            }
            try await fences.raise(on: connection, timeout: configuration.commandTimeout)
            try await dataGuard?.verify(server: address, markerKey: markerKey()) {
                try await connection.send($0, asking: false, timeout: configuration.commandTimeout)
            }
        } catch {
            connection.close()
            throw RedisError(.connectionFailed, "Redis refused the connection set-up: \(error)")
        }
        logger.debug("redis connected", metadata: ["host": "\(configuration.host)", "port": "\(configuration.port)"])
        return connection
    }

    /// AUTH and SELECT, before the connection is handed to callers.
    private static func prepare(_ connection: RedisConnection, _ configuration: RedisConfiguration) async throws {
        if let password = configuration.password {
            try await connection.send(RedisCommand("AUTH", RedisArgument(password)), asking: false, timeout: configuration.commandTimeout)
        }
        if configuration.database != 0 {
            try await connection.send(RedisCommand("SELECT", RedisArgument(configuration.database)), asking: false,
                                      timeout: configuration.commandTimeout)
        }
    }
}
