import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// An async Redis client: concurrent callers' commands are pipelined over a small pool of
/// connections, and replies are matched to callers in order.
///
/// Connections open lazily on first use and reopen after Redis restarts. While Redis is
/// unreachable, calls fail fast with a ``RedisError`` whose ``RedisError/isUnavailable`` is true;
/// a command without a reply within ``RedisConfiguration/commandTimeout`` fails with `.timeout`.
///
/// As a `Service` it closes its connections on graceful shutdown; it works without being run.
public final class RedisClient: Service, Sendable {
    public let configuration: RedisConfiguration
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let slots: [ConnectionSlot]
    private let nextSlot = Atomic<Int>(0)
    /// Told of every new connection's server before the connection serves anyone.
    private let dataGuard: RedisDataGuard?

    /// - Parameter dataGuard: verified on every new connection, before the connection serves
    ///   anyone, so that a restarted Redis is never used as if it held the data of the old one.
    public init(
        configuration: RedisConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "redis"),
        dataGuard: RedisDataGuard? = nil
    ) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.dataGuard = dataGuard
        self.slots = (0..<max(1, configuration.poolSize)).map { _ in ConnectionSlot(logger: logger) }
    }

    /// Sends one command and returns its reply; an error reply is thrown as `.server`.
    ///
    /// With `requiringTrustedData`, the command is sent only while the data guard trusts the
    /// server's data, as verified on the connection it would go over (a restarted server is
    /// verified before its first command); otherwise it fails with `.untrustedData`, not sent.
    @discardableResult
    public func send(_ command: RedisCommand, requiringTrustedData: Bool = false) async throws -> RedisReply {
        let slot = slots[nextSlot.wrappingAdd(1, ordering: .relaxed).oldValue % slots.count]
        let connection = try await slot.connection(backoff: configuration.reconnectBackoff) { try await self.connect() }
        if requiringTrustedData, let dataGuard, let distrust = dataGuard.distrust {
            throw RedisError(.untrustedData, distrust)
        }
        return try await connection.send(command, timeout: configuration.commandTimeout)
    }

    /// Sends `arguments` as one command, e.g. `send("SET", key, value)`.
    @discardableResult
    public func send(_ arguments: RedisArgument...) async throws -> RedisReply {
        try await send(RedisCommand(arguments))
    }

    /// Closes every connection; later calls fail with `.clientClosed`.
    public func shutdown() {
        for slot in slots { slot.close() }
    }

    public func run() async throws {
        try? await gracefulShutdown()
        shutdown()
    }

    private func connect() async throws -> RedisConnection {
        let configuration = self.configuration
        let dataGuard = self.dataGuard
        let logger = self.logger
        let eventLoop = eventLoopGroup.any()
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(configuration.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        RedisChannelHandler(commandTimeout: configuration.commandTimeout))
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
            try await dataGuard?.verify { try await connection.send($0, timeout: configuration.commandTimeout) }
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
            try await connection.send(RedisCommand("AUTH", RedisArgument(password)), timeout: configuration.commandTimeout)
        }
        if configuration.database != 0 {
            try await connection.send(RedisCommand("SELECT", RedisArgument(configuration.database)), timeout: configuration.commandTimeout)
        }
    }
}
