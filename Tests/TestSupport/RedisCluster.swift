import Foundation
import NIOCore
import RedisClient

/// A real Redis Cluster for one test: three primaries with a replica each, every node its own
/// `redis-server` on a free loopback port (started and stopped by PID like ``RedisServer``).
/// Slots go 0–5460, 5461–10922, 10923–16383 to the primaries in order.
public final class RedisCluster: TestRedis {
    public let primaries: [RedisServer]
    /// `replicas[i]` replicates `primaries[i]`.
    public let replicas: [RedisServer]

    public var nodes: [RedisServer] { primaries + replicas }

    public var url: String { "redis+cluster://" + primaries.map { "127.0.0.1:\($0.port)" }.joined(separator: ",") }

    private init(primaries: [RedisServer], replicas: [RedisServer]) {
        self.primaries = primaries
        self.replicas = replicas
    }

    /// Runs `body` with a fresh cluster, stopping it afterwards whatever happens.
    public static func with<T>(_ body: (RedisCluster) async throws -> T) async throws -> T {
        let cluster = try await start()
        defer {
            cluster.stop()
            for node in cluster.nodes { node.removeFiles() }
        }
        return try await body(cluster)
    }

    /// Starts six nodes and joins them: slots to the primaries, each replica to its primary;
    /// returns once every node says `cluster_state:ok` and every replica is in sync.
    public static func start() async throws -> RedisCluster {
        // A short node timeout: a stopped primary is noticed within about a second. Replicas
        // sync at once (diskless sync waits 5 s by default for more replicas to join), and
        // CLUSTER SLOTS lists a replica only once its replication offset moved, which in an
        // idle cluster only the primary's pings do (every 10 s by default).
        let options = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "1000",
                       "--repl-diskless-sync-delay", "0", "--repl-ping-replica-period", "1"]
        var started: [RedisServer] = []
        do {
            for _ in 0..<6 { started.append(try await RedisServer.start(options: options, busPort: true)) }
            let cluster = RedisCluster(primaries: Array(started[0..<3]), replicas: Array(started[3..<6]))
            try await cluster.join()
            return cluster
        } catch {
            for node in started { node.stop(); node.removeFiles() }
            throw error
        }
    }

    private func join() async throws {
        let admins = nodes.map { $0.nodeClient(commandTimeout: .seconds(2), poolSize: 1) }
        defer { for admin in admins { admin.shutdown() } }
        let ranges = [(0, 5460), (5461, 10922), (10923, 16383)]
        for (admin, range) in zip(admins, ranges) {
            try await admin.send("CLUSTER", "ADDSLOTSRANGE", RedisArgument(range.0), RedisArgument(range.1))
        }
        for admin in admins.dropFirst() {
            try await admin.send("CLUSTER", "MEET", "127.0.0.1", RedisArgument(primaries[0].port))
        }
        try await waitUntil("every node knows the other five") {
            for admin in admins {
                let known = try await admin.send("CLUSTER", "NODES").string?.split(separator: "\n").count ?? 0
                if known < 6 { return false }
            }
            return true
        }
        for (replica, primary) in zip(admins[3...], admins[0..<3]) {
            let id = try await primary.send("CLUSTER", "MYID")
            try await replica.send("CLUSTER", "REPLICATE", RedisArgument(id.string ?? ""))
        }
        try await waitUntilHealthy(admins)
    }

    /// Waits until every node says `cluster_state:ok` and sees three primaries with a replica
    /// each, and every replica's link to its primary is up.
    public func waitUntilHealthy() async throws {
        let admins = nodes.map { $0.nodeClient(commandTimeout: .seconds(2), poolSize: 1) }
        defer { for admin in admins { admin.shutdown() } }
        try await waitUntilHealthy(admins)
    }

    private func waitUntilHealthy(_ admins: [RedisNodeClient]) async throws {
        try await waitUntil("the cluster is ok with a replica in sync for each primary") {
            for admin in admins {
                guard let info = try? await admin.send("CLUSTER", "INFO").string, info.contains("cluster_state:ok"),
                      let slots = try? await admin.send("CLUSTER", "SLOTS").array, slots.count == 3,
                      slots.allSatisfy({ ($0.array?.count ?? 0) >= 4 })
                else { return false }
                let replication = try await admin.send("INFO", "replication").string ?? ""
                if replication.contains("role:slave") && !replication.contains("master_link_status:up") { return false }
            }
            return true
        }
    }

    /// The node that serves `slot` now as a primary, and its replica.
    public func nodes(serving key: String) async throws -> (primary: RedisServer, replica: RedisServer) {
        let slot = Int(HashSlot(key: key).rawValue)
        let admin = nodes[0].nodeClient(commandTimeout: .seconds(2), poolSize: 1)
        defer { admin.shutdown() }
        for range in try await admin.send("CLUSTER", "SLOTS").array ?? [] {
            guard let parts = range.array, let start = parts[0].int, let end = parts[1].int, (start...end).contains(Int64(slot)),
                  let primaryPort = parts[2].array?[1].int, parts.count > 3, let replicaPort = parts[3].array?[1].int,
                  let primary = nodes.first(where: { $0.port == primaryPort }),
                  let replica = nodes.first(where: { $0.port == replicaPort })
            else { continue }
            return (primary, replica)
        }
        throw TestSupportError("no node serves slot \(slot)")
    }

    public func client(commandTimeout: TimeAmount, poolSize: Int, dataGuard: RedisDataGuard?) -> any RedisClient {
        var configuration = try! RedisConfiguration(url: url)
        configuration.commandTimeout = commandTimeout
        configuration.poolSize = poolSize
        return RedisClusterClient(configuration: configuration, logger: .init(label: "redis"), dataGuard: dataGuard,
                                  topologyRefreshInterval: .milliseconds(500))
    }

    /// Stops every node, replicas first (a primary stopped while its replica runs on would be
    /// failed over after the node timeout).
    public func stop() {
        for node in replicas + primaries { node.stop() }
    }

    /// Every node again on its port, from its own snapshot and `nodes.conf` (so the cluster
    /// keeps its shape); returns once it is healthy.
    public func restart() async throws {
        for node in nodes { try await node.restart() }
        try await waitUntilHealthy()
    }

    func waitUntil(_ what: String, _ condition: () async throws -> Bool) async throws {
        for _ in 0..<400 {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw TestSupportError("Redis Cluster: timed out waiting until \(what); logs in \(nodes[0].directory.deletingLastPathComponent().path)")
    }
}

extension RedisCluster {
    /// Moves the slot of `key` from its primary to `target` the way `redis-cli --cluster
    /// reshard` does: `IMPORTING` on the target, `MIGRATING` on the source, the keys over with
    /// `MIGRATE` (`batch` at a time, `pause` between batches, so clients meet `ASK` meanwhile),
    /// then `SETSLOT ... NODE` on every primary.
    public func migrate(slotOf key: String, to target: RedisServer, batch: Int = 10, pause: Duration = .zero) async throws {
        let slot = RedisArgument(Int(HashSlot(key: key).rawValue))
        let source = try await nodes(serving: key).primary
        guard source.port != target.port else { return }
        let from = source.nodeClient(commandTimeout: .seconds(5), poolSize: 1)
        let to = target.nodeClient(commandTimeout: .seconds(5), poolSize: 1)
        defer { from.shutdown(); to.shutdown() }
        let sourceID = RedisArgument(try await from.send("CLUSTER", "MYID").string ?? "")
        let targetID = RedisArgument(try await to.send("CLUSTER", "MYID").string ?? "")
        try await to.send("CLUSTER", "SETSLOT", slot, "IMPORTING", sourceID)
        try await from.send("CLUSTER", "SETSLOT", slot, "MIGRATING", targetID)
        while true {
            let keys = try await from.send("CLUSTER", "GETKEYSINSLOT", slot, RedisArgument(batch)).array ?? []
            if keys.isEmpty { break }
            let names = keys.compactMap(\.bytes).map { RedisArgument(bytes: $0) }
            try await from.send(RedisCommand(["MIGRATE", "127.0.0.1", RedisArgument(target.port), "", "0", "5000", "KEYS"] + names))
            if pause > .zero { try await Task.sleep(for: pause) }
        }
        try await to.send("CLUSTER", "SETSLOT", slot, "NODE", targetID)
        try await from.send("CLUSTER", "SETSLOT", slot, "NODE", targetID)
        for other in primaries where other.port != source.port && other.port != target.port {
            let admin = other.nodeClient(commandTimeout: .seconds(5), poolSize: 1)
            defer { admin.shutdown() }
            _ = try? await admin.send("CLUSTER", "SETSLOT", slot, "NODE", targetID)
        }
    }

    /// `CLUSTER FAILOVER` on `replica` (a coordinated hand-over: its primary stops, the replica
    /// catches up, then takes over); returns once it is a primary.
    public func failOver(to replica: RedisServer) async throws {
        let admin = replica.nodeClient(commandTimeout: .seconds(5), poolSize: 1)
        defer { admin.shutdown() }
        try await admin.send("CLUSTER", "FAILOVER")
        try await waitUntil("\(replica.port) is a primary") {
            (try await admin.send("INFO", "replication").string ?? "").contains("role:master")
        }
    }
}
