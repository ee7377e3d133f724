import Foundation
import NIOCore
import RedisClient

/// The Redis a test runs against: one `redis-server`, or a Redis Cluster when the suite runs
/// with `COMMERCE_TEST_REDIS=cluster` (scripts/test's cluster pass).
public protocol TestRedis: Sendable {
    /// As `--redis` takes it.
    var url: String { get }
    /// A client with short timeouts, so failure tests stay fast.
    func client(commandTimeout: TimeAmount, poolSize: Int, dataGuard: RedisDataGuard?) -> any RedisClient
    /// Stops every server (SIGKILL after 1 s).
    func stop()
    /// Starts every server again on its port and directory, from whatever each last saved.
    func restart() async throws
}

extension TestRedis {
    public func client(commandTimeout: TimeAmount = .milliseconds(500), poolSize: Int = 4, dataGuard: RedisDataGuard? = nil) -> any RedisClient {
        client(commandTimeout: commandTimeout, poolSize: poolSize, dataGuard: dataGuard)
    }
}

/// True when the suite runs against a Redis Cluster.
public let testsUseRedisCluster = ProcessInfo.processInfo.environment["COMMERCE_TEST_REDIS"] == "cluster"

/// Runs `body` with a fresh Redis of the kind the suite runs against, stopped afterwards.
public func withTestRedis<T>(_ body: (any TestRedis) async throws -> T) async throws -> T {
    if testsUseRedisCluster {
        return try await RedisCluster.with { try await body($0) }
    }
    return try await RedisServer.with { try await body($0) }
}

extension RedisClient {
    /// Sends `arguments` (a command without keys: `SAVE`, `FLUSHALL`, `DBSIZE`) to every primary;
    /// the replies in order.
    @discardableResult
    public func sendToEveryPrimary(_ arguments: RedisArgument...) async throws -> [RedisReply] {
        var replies: [RedisReply] = []
        for primary in try await primaries() { replies.append(try await primary.send(RedisCommand(arguments))) }
        return replies
    }
}
