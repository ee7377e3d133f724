import ArgumentParser
import Logging
import RedisClient

extension RedisConfiguration {
    /// Refuses a `redis://` URL that names a node of a Redis Cluster: a single-server client
    /// sent there would meet `MOVED` for most keys and never become ready. A Redis that cannot be
    /// reached now is not refused (the service waits for it and verifies it then).
    func refuseClusterNodeAsSingleServer(logger: Logger) async throws {
        guard !isCluster else { return }
        var probe = self
        probe.poolSize = 1
        let client = probe.makeClient(logger: logger)
        defer { client.shutdown() }
        guard let info = try? await client.send("INFO", "cluster").string else { return }
        if info.contains("cluster_enabled:1") {
            throw ValidationError("""
                --redis redis://\(host):\(port) is a Redis Cluster node: use redis+cluster://\(host):\(port) \
                (add more nodes after commas as seeds)
                """)
        }
    }
}
