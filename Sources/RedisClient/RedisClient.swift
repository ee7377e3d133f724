import Logging
import ServiceLifecycle

/// What the service asks of Redis, whether one server (``RedisNodeClient``) or a Redis Cluster
/// (``RedisClusterClient``): concurrent callers' commands are pipelined, each reply goes back to
/// its caller.
///
/// Obligations of a conforming client:
/// - a command goes to the server that holds its keys (``RedisCommand/slot``); one without keys to
///   any primary;
/// - while a server is unreachable calls fail fast with a ``RedisError`` whose
///   ``RedisError/isUnavailable`` is true, and a command without a reply within the command timeout
///   fails with `.timeout`; a command that may have run is never sent twice;
/// - with `requiringTrustedData` a command is sent only while the data guard trusts the data (see
///   ``RedisDataGuard``), else it fails with `.untrustedData`, not sent;
/// - as a `Service` it closes its connections on graceful shutdown; it works without being run.
public protocol RedisClient: Service, Sendable {
    /// Sends one command and returns its reply; an error reply is thrown as `.server`.
    @discardableResult
    func send(_ command: RedisCommand, requiringTrustedData: Bool) async throws -> RedisReply

    /// Runs `script` with `keys` (all on one slot) and `args` through `EVALSHA`, loading it on the
    /// server that lacks it.
    @discardableResult
    func run(_ script: RedisScript, keys: [String], args: [RedisArgument], requiringTrustedData: Bool) async throws -> RedisReply

    /// One client per primary server now: for work over the whole keyspace (`SCAN`) and facts of
    /// each server (its `run_id`, its data marker).
    func primaries() async throws -> [RedisNodeClient]

    /// Closes every connection; later calls fail with `.clientClosed`.
    func shutdown()
}

extension RedisClient {
    @discardableResult
    public func send(_ command: RedisCommand) async throws -> RedisReply {
        try await send(command, requiringTrustedData: false)
    }

    /// Sends `arguments` as one command, e.g. `send("SET", .key(name), value)`.
    @discardableResult
    public func send(_ arguments: RedisArgument...) async throws -> RedisReply {
        try await send(RedisCommand(arguments), requiringTrustedData: false)
    }

    @discardableResult
    public func run(_ script: RedisScript, keys: [String] = [], args: [RedisArgument] = []) async throws -> RedisReply {
        try await run(script, keys: keys, args: args, requiringTrustedData: false)
    }

    /// One step of a SCAN-family cursor (`SCAN`, `HSCAN`, ...; `arguments` start with the command
    /// name): the next cursor ("0": done) and this step's elements. A `SCAN` sees the keys of the
    /// server it is sent to: run it on each of ``primaries()``.
    public func scanStep(_ arguments: RedisArgument...) async throws -> (next: String, elements: [RedisReply]) {
        let reply = try await send(RedisCommand(arguments))
        guard let parts = reply.array, parts.count == 2, let next = parts[0].string, let elements = parts[1].array else {
            throw RedisError(.protocolError, "\(String(decoding: arguments[0].bytes, as: UTF8.self)) returned \(reply)")
        }
        return (next, elements)
    }
}

extension RedisConfiguration {
    /// The client for this configuration: a cluster client for `redis+cluster://`, else one for
    /// the one server.
    /// - Parameter dataGuard: told of every server's data before a new connection serves anyone.
    public func makeClient(logger: Logger = Logger(label: "redis"), dataGuard: RedisDataGuard? = nil) -> any RedisClient {
        isCluster ? RedisClusterClient(configuration: self, logger: logger, dataGuard: dataGuard)
            : RedisNodeClient(configuration: self, logger: logger, dataGuard: dataGuard)
    }
}
