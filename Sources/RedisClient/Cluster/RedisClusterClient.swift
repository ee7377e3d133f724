import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import ServiceTasks
import Synchronization

/// A Redis Cluster client: each command goes to the primary that serves its keys' slot, over
/// that primary's ``RedisNodeClient`` (its own pipelined connection pool); commands of concurrent
/// callers to different primaries travel concurrently, each reply back to its caller.
///
/// The slot map comes from `CLUSTER SLOTS`, asked of the known primaries and the seed nodes,
/// first on the first call (so the client works without being run), then whenever the cluster
/// says it changed (`MOVED`, `CLUSTERDOWN`, a primary that cannot be reached) and every
/// ``topologyRefreshInterval`` while it runs. A redirected command is resent within the command
/// timeout: `MOVED` → map updated and resent, `ASK` → `ASKING` and the command on that node
/// once, map unchanged; `TRYAGAIN`, `CLUSTERDOWN`, `MASTERDOWN`, `LOADING` → a short backoff.
/// Nothing that may have run is sent twice (a timeout or a lost connection is the caller's).
public final class RedisClusterClient: RedisClient {
    public let configuration: RedisConfiguration
    public let topologyRefreshInterval: Duration
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let dataGuard: RedisDataGuard?
    private let state = Mutex(State())
    /// One refresh at a time; callers who need one meanwhile wait for it.
    private let refreshes = Turns<Int, CheckedContinuation<Bool, Never>>()
    private let counters = Counters()

    private struct State: Sendable {
        var topology: ClusterTopology?
        var nodes: [RedisEndpoint: RedisNodeClient] = [:]
        /// Clients of nodes that left the map, closed one refresh later (their replies in flight
        /// still reach their callers).
        var retired: [RedisNodeClient] = []
        var closed = false
    }

    /// How often the client followed the cluster's redirections, for metrics.
    public struct Redirections: Sendable, Equatable {
        public var moved = 0
        public var ask = 0
        public var backoffs = 0
    }

    private final class Counters: Sendable {
        let moved = Atomic<Int>(0)
        let ask = Atomic<Int>(0)
        let backoffs = Atomic<Int>(0)
    }

    public init(
        configuration: RedisConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "redis"),
        dataGuard: RedisDataGuard? = nil,
        topologyRefreshInterval: Duration = .seconds(2)
    ) {
        precondition(configuration.isCluster, "a cluster client needs seed nodes")
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.dataGuard = dataGuard
        self.topologyRefreshInterval = topologyRefreshInterval
    }

    /// The redirections followed so far.
    public var redirections: Redirections {
        Redirections(moved: counters.moved.load(ordering: .relaxed), ask: counters.ask.load(ordering: .relaxed),
                     backoffs: counters.backoffs.load(ordering: .relaxed))
    }

    public func send(_ command: RedisCommand, requiringTrustedData: Bool) async throws -> RedisReply {
        try await routed(command.slot) { node, asking in
            try await node.send(command, asking: asking, requiringTrustedData: requiringTrustedData)
        }
    }

    public func run(_ script: RedisScript, keys: [String], args: [RedisArgument], requiringTrustedData: Bool) async throws -> RedisReply {
        guard script.keysShareSlot else {
            throw RedisError(.protocolError, "\(script.name) is for one Redis server: its keys span hash slots")
        }
        return try await routed(keys.first.map { HashSlot(key: $0) }) { node, asking in
            try await node.run(script, keys: keys, args: args, asking: asking, requiringTrustedData: requiringTrustedData)
        }
    }

    public func primaries() async throws -> [RedisNodeClient] {
        let topology = try await currentTopology()
        return topology.primaries.map(node(at:))
    }

    public func shutdown() {
        let clients = state.withLock { state in
            state.closed = true
            defer { state.nodes = [:]; state.retired = [] }
            return Array(state.nodes.values) + state.retired
        }
        for client in clients { client.shutdown() }
    }

    /// Refreshes the slot map every ``topologyRefreshInterval`` until graceful shutdown, then
    /// closes every connection.
    public func run() async throws {
        await repeatUntilShutdown(every: topologyRefreshInterval) {
            try? await refreshTopology()
        }
        shutdown()
    }

    /// Sends with `operation` to the node that serves `slot` (any primary for nil), following
    /// redirections until the command timeout.
    private func routed(
        _ slot: HashSlot?, _ operation: (RedisNodeClient, _ asking: Bool) async throws -> RedisReply
    ) async throws -> RedisReply {
        let deadline = ContinuousClock.now + .nanoseconds(configuration.commandTimeout.nanoseconds)
        // Where the last redirection pointed: the node that answered knows better than a map
        // refreshed from a node that may not have heard of the change yet.
        var redirected: (endpoint: RedisEndpoint, asking: Bool)?
        var attempt = 0
        while true {
            attempt += 1
            let node = if let redirected { self.node(at: redirected.endpoint) } else { try await node(serving: slot) }
            do {
                return try await operation(node, redirected?.asking ?? false)
            } catch let error as RedisError {
                guard let retry = ClusterRetry(error) else { throw error }
                if retry.isRedirection, attempt >= 16 {
                    // Not run: a cluster in the middle of changing its mind is unavailable for now.
                    throw RedisError(.connectionFailed, "the cluster redirected one command 16 times, last: \(error.message)")
                }
                redirected = nil
                switch retry {
                case .moved(let slot, let endpoint):
                    counters.moved.add(1, ordering: .relaxed)
                    redirected = (endpoint, false)
                    let known = state.withLock { state in
                        defer { state.topology?.move(slot, to: endpoint) }
                        return state.topology?.primaries.contains(endpoint) ?? false
                    }
                    // A primary not seen before (a failover, a new node): the whole map first,
                    // and the data guard tracks it before it serves anyone (also when the
                    // refresh fails or finds the map `move` already made).
                    if !known {
                        try? await refreshTopology(askingFirst: endpoint)
                        trackPrimaries()
                    }
                case .ask(let endpoint):
                    counters.ask.add(1, ordering: .relaxed)
                    redirected = (endpoint, true)
                case .backoff(let refresh):
                    let pause = Duration.milliseconds(min(100, 5 << min(attempt, 5)))
                    guard ContinuousClock.now + pause < deadline else {
                        // Not run, and the cluster could not take it in time: as unavailable as
                        // a server that cannot be reached.
                        throw error.code == .server ? RedisError(.connectionFailed, "the cluster did not serve the command in time: \(error.message)") : error
                    }
                    counters.backoffs.add(1, ordering: .relaxed)
                    try await Task.sleep(for: pause)
                    if refresh { try? await refreshTopology() }
                }
            }
        }
    }

    /// The client of the primary that serves `slot` now (any primary for nil).
    private func node(serving slot: HashSlot?) async throws -> RedisNodeClient {
        let topology = try await currentTopology()
        guard let slot else { return node(at: topology.primaries[Int.random(in: 0..<topology.primaries.count)]) }
        if let endpoint = topology.primary(for: slot) { return node(at: endpoint) }
        try await refreshTopology()
        guard let endpoint = try await currentTopology().primary(for: slot) else {
            throw RedisError(.connectionFailed, "no node of the cluster serves slot \(slot)")
        }
        return node(at: endpoint)
    }

    private func currentTopology() async throws -> ClusterTopology {
        if let topology = state.withLock({ $0.topology }) { return topology }
        try await refreshTopology()
        guard let topology = state.withLock({ $0.topology }) else {
            throw RedisError(.connectionFailed, "no seed node of the cluster answered CLUSTER SLOTS")
        }
        return topology
    }

    /// The client of `endpoint`, made on first use.
    private func node(at endpoint: RedisEndpoint) -> RedisNodeClient {
        state.withLock { state in
            if let known = state.nodes[endpoint] { return known }
            var configuration = self.configuration
            (configuration.host, configuration.port, configuration.clusterSeeds, configuration.database) = (endpoint.host, endpoint.port, [], 0)
            let node = RedisNodeClient(configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger, dataGuard: dataGuard) {
                [weak self] in self?.markerKey(of: endpoint) ?? ""  // asked only with a data guard
            }
            if state.closed { node.shutdown() } else { state.nodes[endpoint] = node }
            return node
        }
    }

    /// The key of `endpoint`'s data marker: the guard's key with the first hash tag
    /// (`{marker-0}`, `{marker-1}`, ...) whose slot `endpoint` serves, so every primary holds
    /// its own marker. (Not `{0}`, `{1}`...: those are the coupons' tags, whose slots move when a
    /// hot coupon is moved to a node of its own; a marker that moves away means a repair.)
    private func markerKey(of endpoint: RedisEndpoint) -> String {
        guard let base = dataGuard?.markerKey else { return "" }
        guard let topology = state.withLock({ $0.topology }) else { return base }
        for number in 0..<100_000 where topology.serves(endpoint, HashSlot(key: "marker-\(number)")) {
            return "\(base):{marker-\(number)}"
        }
        return base
    }

    /// Asks the known primaries, then the seeds, for `CLUSTER SLOTS` until one answers, and
    /// installs the map it gives. Callers that come while a refresh runs wait for it instead.
    /// `askingFirst`: a node that just said it owns a slot, which knows the change best.
    private func refreshTopology(askingFirst first: RedisEndpoint? = nil) async throws {
        guard await refreshes.turn(0, lead: true, waiter: { $0 }) else { return }
        defer { for waiter in refreshes.end(0) { waiter.resume(returning: false) } }
        var candidates = first.map { [$0] } ?? []
        for endpoint in state.withLock({ $0.topology?.primaries ?? [] }) + configuration.clusterSeeds where !candidates.contains(endpoint) {
            candidates.append(endpoint)
        }
        var lastError: (any Error)?
        for endpoint in candidates {
            do {
                let reply = try await node(at: endpoint).send(RedisCommand("CLUSTER", "SLOTS"))
                install(try ClusterTopology(slots: reply, askedAt: endpoint))
                return
            } catch {
                lastError = error
            }
        }
        throw lastError ?? RedisError(.connectionFailed, "no node of the cluster is known")
    }

    /// Has the data guard track exactly the primaries of the map as it is now: every primary a
    /// command may go to is verified before trusted data is read from it.
    private func trackPrimaries() {
        guard let primaries = state.withLock({ $0.topology?.primaries }) else { return }
        dataGuard?.track(servers: Set(primaries.map(\.description)))
    }

    private func install(_ topology: ClusterTopology) {
        let (changed, toClose) = state.withLock { state -> (Bool, [RedisNodeClient]) in
            let changed = state.topology?.primaries != topology.primaries
            state.topology = topology
            let toClose = state.retired
            state.retired = []
            for (endpoint, client) in state.nodes where !topology.primaries.contains(endpoint) {
                state.retired.append(client)
                state.nodes[endpoint] = nil
            }
            return (changed, toClose)
        }
        for client in toClose { client.shutdown() }
        trackPrimaries()
        if changed {
            logger.notice("redis cluster: primaries are \(topology.primaries.map(\.description).sorted().joined(separator: ", "))")
        }
    }
}
