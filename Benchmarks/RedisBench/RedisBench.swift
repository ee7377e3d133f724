import ArgumentParser
import Foundation
import RedisClient

/// Throughput of the Redis client for many concurrent callers, each sending one command at a
/// time (as `redis-benchmark -P 1` clients do): the client's own pipelining is what is measured.
@main
struct RedisBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redis-bench",
        abstract: "Measure EVALSHA throughput of the Swift Redis client; prints requests per second."
    )

    @Option(help: "Redis URL.")
    var redis = "redis://127.0.0.1:6379/0"

    @Option(help: "Lua script file to run with EVALSHA (one key).")
    var script: String

    @Option(help: "Concurrent callers (tasks), each awaiting its reply before sending again.")
    var concurrency = 50

    @Option(help: "Total commands.")
    var requests = 200_000

    @Option(help: "Connections in the client's pool (per node on a cluster).")
    var poolSize = 4

    @Option(help: "Keys the callers spread over (bench:{0}, bench:{1}, ...): on a cluster, more than the nodes, so every node gets its share.")
    var keys = 1

    func run() async throws {
        var configuration = try RedisConfiguration(url: redis)
        configuration.poolSize = poolSize
        configuration.commandTimeout = .seconds(5)
        let client = configuration.makeClient()
        defer { client.shutdown() }
        let script = RedisScript(name: "bench", source: try String(contentsOfFile: self.script, encoding: .utf8))

        // Warm up: connections open, the script loaded, code paths paged in.
        try await callers(client, script, total: min(requests / 10, 20_000))
        let clock = ContinuousClock()
        let elapsed = try await clock.measure {
            try await callers(client, script, total: requests)
        }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print(String(format: "client_rps=%.0f requests=%d seconds=%.3f concurrency=%d pool=%d",
                     Double(requests) / seconds, requests, seconds, concurrency, poolSize))
    }

    private func callers(_ client: any RedisClient, _ script: RedisScript, total: Int) async throws {
        let perCaller = total / concurrency
        let keys = self.keys
        try await withThrowingTaskGroup(of: Void.self) { group in
            for caller in 0..<concurrency {
                group.addTask {
                    let key = keys == 1 ? "bench:counter" : "bench:{\(caller % keys)}"
                    for _ in 0..<perCaller {
                        let reply = try await client.run(script, keys: [key])
                        guard reply.int != nil else { throw RedisError(.protocolError, "unexpected reply \(reply)") }
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}
