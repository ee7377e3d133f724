import Logging
import Testing
import RedisClient
import TestSupport

/// The cluster client against a real three-primary cluster with replicas.
@Suite struct RedisClusterClientTests {
    @Test func keysGoToTheirPrimaryAndScriptsLoadOnEachNode() async throws {
        try await RedisCluster.with { cluster async throws in
            let client = cluster.client()
            defer { client.shutdown() }
            let script = RedisScript(name: "incr", source: "return redis.call('INCRBY', KEYS[1], ARGV[1])")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<300 {
                    group.addTask {
                        try await client.send("SET", .key("k:\(i)"), RedisArgument(i))
                        #expect(try await client.run(script, keys: ["n:\(i)"], args: [RedisArgument(i)]).int == Int64(i))
                    }
                }
                try await group.waitForAll()
            }
            for i in 0..<300 { #expect(try await client.send("GET", .key("k:\(i)")).int == Int64(i)) }
            // Every primary holds its share, and only that.
            let sizes = try await client.sendToEveryPrimary("DBSIZE").compactMap(\.int)
            #expect(sizes.count == 3)
            #expect(sizes.allSatisfy { $0 > 100 })
            #expect(sizes.reduce(0, +) == 600)
            #expect(client is RedisClusterClient)
        }
    }

    @Test func movedAndAskAreFollowedWhileASlotMigrates() async throws {
        try await RedisCluster.with { cluster async throws in
            let client = cluster.client(commandTimeout: .seconds(2))
            defer { client.shutdown() }
            let keys = (0..<200).map { "hot:{tag}:\($0)" }
            for key in keys { try await client.send("SET", .key(key), "v") }
            let (source, _) = try await cluster.nodes(serving: "tag")
            let target = cluster.primaries.first { $0.port != source.port }!
            // Readers keep reading every key while the slot moves a few keys at a time.
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await cluster.migrate(slotOf: "tag", to: target, batch: 5, pause: .milliseconds(20)) }
                for reader in 0..<4 {
                    group.addTask {
                        for round in 0..<200 {
                            let key = keys[(reader * 53 + round * 7) % keys.count]
                            #expect(try await client.send("GET", .key(key)).string == "v")
                            try await client.send("INCR", .key("hot:{tag}:count"))
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await cluster.nodes(serving: "tag").primary.port == target.port)
            #expect(try await client.send("GET", .key("hot:{tag}:count")).int == 800)
            let redirections = (client as! RedisClusterClient).redirections
            #expect(redirections.ask > 0, "keys already moved were asked for at the target")
            #expect(redirections.moved > 0, "the finished move was learned from MOVED")
        }
    }

    @Test func aFailoverIsFollowed() async throws {
        try await RedisCluster.with { cluster async throws in
            let client = cluster.client(commandTimeout: .seconds(2))
            defer { client.shutdown() }
            try await client.send("SET", .key("{f}:x"), "1")
            let (_, replica) = try await cluster.nodes(serving: "f")
            try await cluster.failOver(to: replica)
            try await client.send("INCR", .key("{f}:x"))
            #expect(try await client.send("GET", .key("{f}:x")).int == 2)
            #expect(try await cluster.nodes(serving: "f").primary.port == replica.port)
        }
    }

    /// A primary the client first hears of through MOVED (a node added and given a slot, the old
    /// primaries all still there, so the refreshed map equals the one the redirection built) is
    /// tracked by the data guard, and a command that needs trusted data is not sent there before
    /// it is verified: that node has no marker, so it is fenced, never used as if it held the data.
    @Test func aPrimaryLearnedFromMovedIsFencedUntilVerified() async throws {
        try await RedisCluster.with { cluster async throws in
            let guardian = RedisDataGuard(logger: Logger(label: "test"))
            let client = RedisClusterClient(configuration: try RedisConfiguration(url: cluster.url), dataGuard: guardian)
            defer { client.shutdown() }
            // Trusted: every primary verified and marked repaired, as the service does at start.
            for primary in try await client.primaries() { try await primary.verifyData() }
            let runIDs = guardian.runIDs
            for primary in try await client.primaries() { try await primary.markRepaired(runID: runIDs[primary.address]!) }
            #expect(guardian.isTrusted)
            try await client.send(RedisCommand("SET", .key("{t}:x"), "1"), requiringTrustedData: true)

            // A fourth primary joins and takes the slot of {t}.
            let options = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "1000"]
            let newcomer = try await RedisServer.start(options: options, busPort: true)
            defer { newcomer.stop(); newcomer.removeFiles() }
            let admin = newcomer.nodeClient(commandTimeout: .seconds(2), poolSize: 1)
            defer { admin.shutdown() }
            try await admin.send("CLUSTER", "MEET", "127.0.0.1", RedisArgument(cluster.primaries[0].port))
            for primary in cluster.primaries + [newcomer] {
                let node = primary.nodeClient(commandTimeout: .seconds(2), poolSize: 1)
                defer { node.shutdown() }
                for _ in 0..<100 where (try await node.send("CLUSTER", "NODES").string?.split(separator: "\n").count ?? 0) < 7 {
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            for _ in 0..<100 where !(try await admin.send("CLUSTER", "INFO").string ?? "").contains("cluster_state:ok") {
                try await Task.sleep(for: .milliseconds(100))
            }
            try await cluster.migrate(slotOf: "t", to: newcomer)

            await #expect(throws: RedisError.self, "refused on the unverified newcomer") {
                try await client.send(RedisCommand("GET", .key("{t}:x")), requiringTrustedData: true)
            }
            #expect(!guardian.isTrusted(server: "127.0.0.1:\(newcomer.port)") )
            #expect(try await client.primaries().contains { $0.address == "127.0.0.1:\(newcomer.port)" })
            // Without the need for trusted data the command goes there.
            #expect(try await client.send("GET", .key("{t}:x")).int == 1)
        }
    }
}
