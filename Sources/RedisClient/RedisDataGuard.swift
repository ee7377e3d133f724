import Logging
import Synchronization

/// Whether the data in the Redis a process talks to can still be trusted, or may have been lost.
///
/// Redis loses acknowledged writes in ordinary faults (a restart from an older snapshot, the
/// last second of `appendfsync everysec`, a flush, a replacement). Every start of a Redis server
/// has a new `run_id`; once the service has repaired a server's data from its durable store it
/// writes that server's `run_id` into ``markerKey``. So the data is trusted exactly when the
/// marker holds the `run_id` of the server answering now: a restart changes the `run_id`, a flush
/// or a new server drops the marker. ``verify(using:)`` runs on every new connection, before the
/// connection serves anyone (a restart always means new connections), and periodically (a flush
/// keeps the connections).
public final class RedisDataGuard: Sendable {
    /// The key that holds the `run_id` of the server whose data was last repaired.
    public let markerKey: String
    private let logger: Logger
    private let state = Mutex(State())
    private let detections = Atomic<Int>(0)

    private struct State: Sendable {
        /// The server's `run_id` as last seen; nil before the first look.
        var runID: String?
        /// Nil while trusted; else why not.
        var distrust: String? = "not verified yet"
        /// Counts repairs: a look that began before the last repair says nothing about this server now.
        var repairs = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter: UInt64 = 0
    }

    public init(markerKey: String = "commerce:repaired-run-id", logger: Logger) {
        self.markerKey = markerKey
        self.logger = logger
    }

    /// True when the marker was found to hold the server's `run_id` at the last look.
    public var isTrusted: Bool { state.withLock { $0.distrust == nil } }

    /// Why the data is not trusted (nil: it is).
    public var distrust: String? { state.withLock { $0.distrust } }

    /// The `run_id` of the server at the last look.
    public var runID: String? { state.withLock { $0.runID } }

    /// How many times the data was found lost (each detection, not each look).
    public var lossesDetected: Int { detections.load(ordering: .relaxed) }

    /// Reads the server's `run_id` and the marker over `send` and updates the verdict.
    public func verify(using send: (RedisCommand) async throws -> RedisReply) async throws {
        let repairsBefore = state.withLock { $0.repairs }
        let info = try await send(RedisCommand("INFO", "server"))
        guard let text = info.string, let runID = Self.field("run_id", in: text) else {
            throw RedisError(.protocolError, "INFO server has no run_id")
        }
        let marker = try await send(RedisCommand("GET", .key(markerKey))).string
        update(runID: runID, distrust: marker == runID ? nil
               : marker == nil ? "the repair marker is missing (Redis was flushed, replaced or started empty)"
               : "Redis restarted (run_id \(runID), data last repaired on \(marker!))",
               lookedAfterRepairs: repairsBefore)
    }

    /// Records that the data of the server with `runID` was repaired (the marker now holds it).
    public func repaired(runID: String) {
        state.withLock { $0.repairs += 1 }
        update(runID: runID, distrust: nil, lookedAfterRepairs: nil)
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
                    guard state.distrust == nil, !Task.isCancelled else { return true }
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
    private func update(runID: String, distrust: String?, lookedAfterRepairs: Int?) {
        let (lost, waiters) = state.withLock { state -> (Bool, Dictionary<UInt64, CheckedContinuation<Void, Never>>.Values) in
            // A look at this same server that began before a repair finished may have read the
            // marker before the repair wrote it: the repair's verdict stands.
            if distrust != nil, let looked = lookedAfterRepairs, looked != state.repairs, state.runID == runID {
                return (false, [:].values)
            }
            // A new run_id is another server: whatever was verified of the old one says nothing.
            let lost = distrust != nil && (state.distrust == nil || state.runID != runID)
            state.runID = runID
            state.distrust = distrust
            guard distrust != nil else { return (lost, [:].values) }
            defer { state.waiters = [:] }
            return (lost, state.waiters.values)
        }
        if lost {
            detections.add(1, ordering: .relaxed)
            logger.error("redis data not trusted; coupon issuing is fenced until it is repaired",
                         metadata: ["reason": "\(distrust ?? "")", "run_id": "\(runID)"])
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
