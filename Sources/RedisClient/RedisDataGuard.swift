import Logging
import Synchronization

/// Whether the data in the Redis servers a process talks to can still be trusted, or may have
/// been lost.
///
/// Redis loses acknowledged writes in ordinary faults (a restart from an older snapshot, the
/// last second of `appendfsync everysec`, a flush, a replacement, a replica promoted without the
/// last writes). Every start of a Redis server has a new `run_id`; once the service has repaired
/// a server's data from its durable store it writes that server's `run_id` into its marker key
/// (``markerKey`` on one server; in a cluster one key per primary, on a slot that primary serves).
/// So a server's data is trusted exactly when its marker holds the `run_id` of the server
/// answering now: a restart or a failover changes the `run_id`, a flush or a new server drops the
/// marker. The clients verify every new connection before it serves anyone (a restart always
/// means new connections), and the service looks periodically (a flush keeps the connections).
///
/// The data is trusted when every server the client uses now (``track(servers:)``) is: one
/// primary that lost data fences what needs trusted data everywhere until the repair is done.
public final class RedisDataGuard: Sendable {
    /// The marker's key on one server; cluster primaries use it with a hash tag of their own.
    public let markerKey: String
    private let logger: Logger
    private let state = Mutex(State())
    private let detections = Atomic<Int>(0)

    private struct Server: Sendable {
        /// The server's `run_id` as last seen; nil before the first look.
        var runID: String?
        /// Nil while trusted; else why not.
        var distrust: String? = "not verified yet"
        /// Counts repairs: a look that began before the last repair says nothing about this server now.
        var repairs = 0
    }

    private struct State: Sendable {
        /// By address (`host:port`); empty until a client says which servers it uses.
        var servers: [String: Server] = [:]
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter: UInt64 = 0

        /// Asked on every guarded command: no sorting or formatting unless something is wrong.
        var isTrusted: Bool { !servers.isEmpty && servers.values.allSatisfy { $0.distrust == nil } }

        var distrust: String? {
            guard !isTrusted else { return nil }
            guard !servers.isEmpty else { return "not verified yet" }
            return servers.sorted { $0.key < $1.key }.lazy
                .compactMap { address, server in server.distrust.map { servers.count == 1 ? $0 : "\(address): \($0)" } }
                .first
        }
    }

    public init(markerKey: String = "commerce:repaired-run-id", logger: Logger) {
        self.markerKey = markerKey
        self.logger = logger
    }

    /// True when every server's marker was found to hold its `run_id` at the last look.
    public var isTrusted: Bool { state.withLock { $0.isTrusted } }

    /// True when the data is trusted and `address` is one of the tracked servers: a server the
    /// client reached without tracking it (a primary learned from a redirection) is never
    /// trusted, whatever the others are.
    public func isTrusted(server address: String) -> Bool {
        state.withLock { $0.isTrusted && $0.servers[address] != nil }
    }

    /// Why the data is not trusted (nil: it is).
    public var distrust: String? { state.withLock { $0.distrust } }

    /// Each server's `run_id` at the last look, by address.
    public var runIDs: [String: String] { state.withLock { $0.servers.compactMapValues(\.runID) } }

    /// How many times data was found lost (each detection, not each look).
    public var lossesDetected: Int { detections.load(ordering: .relaxed) }

    /// The servers the client uses now (a cluster's primaries): new ones are not trusted until
    /// verified; servers no longer used are forgotten.
    public func track(servers: Set<String>) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            for gone in Set(state.servers.keys).subtracting(servers) { state.servers[gone] = nil }
            var added = false
            for address in servers where state.servers[address] == nil {
                state.servers[address] = Server()
                added = true
            }
            guard added else { return [] }
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Reads the `run_id` of the server at `address` and its marker (`markerKey`) over `send`, a
    /// connection to that server, and updates the verdict.
    public func verify(server address: String, markerKey: String, using send: (RedisCommand) async throws -> RedisReply) async throws {
        let repairsBefore = state.withLock { $0.servers[address]?.repairs ?? 0 }
        let info = try await send(RedisCommand("INFO", "server"))
        guard let text = info.string, let runID = Self.field("run_id", in: text) else {
            throw RedisError(.protocolError, "INFO server has no run_id")
        }
        let marker: String?
        do {
            marker = try await send(RedisCommand("GET", .key(markerKey))).string
        } catch let error as RedisError where error.isServerError("MOVED") || error.isServerError("ASK") {
            // The marker's slot moved to another primary (resharding): this one's marker is gone.
            marker = nil
        }
        update(address, runID: runID, distrust: marker == runID ? nil
               : marker == nil ? "the repair marker is missing (Redis was flushed, replaced or started empty)"
               : "Redis restarted or failed over (run_id \(runID), data last repaired on \(marker!))",
               lookedAfterRepairs: repairsBefore)
    }

    /// Records that the data of the server at `address`, with `runID`, was repaired (its marker
    /// now holds `runID`).
    public func repaired(server address: String, runID: String) {
        state.withLock { $0.servers[address]?.repairs += 1 }
        update(address, runID: runID, distrust: nil, lookedAfterRepairs: nil)
    }

    /// Returns once the data is not trusted (at once if it is not now), or the task is cancelled.
    public func untrusted() async {
        let id = state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let now = state.withLock { state in
                    guard state.isTrusted, !Task.isCancelled else { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }

    /// `lookedAfterRepairs`: how many repairs there had been when the look began (nil: now).
    private func update(_ address: String, runID: String, distrust: String?, lookedAfterRepairs: Int?) {
        let (lost, waiters) = state.withLock { state -> (Bool, [CheckedContinuation<Void, Never>]) in
            // A server the client no longer uses (a primary that became a replica) has no say.
            guard var server = state.servers[address] else { return (false, []) }
            // A look at this same server that began before a repair finished may have read the
            // marker before the repair wrote it: the repair's verdict stands.
            if distrust != nil, let looked = lookedAfterRepairs, looked != server.repairs, server.runID == runID {
                return (false, [])
            }
            // A new run_id is another server: whatever was verified of the old one says nothing.
            let lost = distrust != nil && (server.distrust == nil || server.runID != runID)
            server.runID = runID
            server.distrust = distrust
            state.servers[address] = server
            guard distrust != nil else { return (lost, []) }
            defer { state.waiters = [:] }
            return (lost, Array(state.waiters.values))
        }
        if lost {
            detections.add(1, ordering: .relaxed)
            logger.error("redis data not trusted; coupon issuing is fenced until it is repaired",
                         metadata: ["reason": "\(distrust ?? "")", "run_id": "\(runID)", "server": "\(address)"])
        }
        for waiter in waiters { waiter.resume() }
    }

    /// The value of `name` in an INFO reply (`name:value` lines).
    static func field(_ name: String, in info: String) -> String? {
        for line in info.split(whereSeparator: \.isNewline) where line.hasPrefix("\(name):") {
            return String(line.dropFirst(name.count + 1))
        }
        return nil
    }
}
