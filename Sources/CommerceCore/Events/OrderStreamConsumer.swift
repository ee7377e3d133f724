import Logging
import RedisClient
import ServiceTasks

/// A consumer-group reader of ``OrderEvent/stream``: the sample data-platform consumer behind
/// `commerce consume-orders`.
///
/// On start it first re-reads its own pending entries (delivered before a crash but never
/// acknowledged), then new ones; each entry is acknowledged after `handle` returns, so delivery
/// is at least once. A new group starts at the beginning of the stream. While Redis is
/// unreachable it waits and carries on where it left off.
public struct OrderStreamConsumer: Sendable {
    /// One stream entry: its id and the `event` field (the event's JSON), nil for a pending entry
    /// that was trimmed from the stream meanwhile.
    public struct Entry: Sendable, Hashable {
        public var id: String
        public var event: String?
    }

    private let redis: any RedisClient
    private let group: String
    private let consumer: String
    private let batchSize: Int
    private let blockMilliseconds: Int
    private let logger: Logger

    /// - Parameter block: how long one read waits for new entries; keep it under the client's
    ///   command timeout.
    public init(
        redis: any RedisClient, group: String, consumer: String, batchSize: Int = 100, block: Duration = .seconds(1),
        logger: Logger = Logger(label: "consume-orders")
    ) {
        self.redis = redis
        self.group = group
        self.consumer = consumer
        self.batchSize = batchSize
        self.blockMilliseconds = Int(block.wholeMilliseconds)
        self.logger = logger
    }

    /// Reads and hands over entries until the task is cancelled.
    public func run(_ handle: @Sendable (Entry) async throws -> Void) async throws {
        var outage = OutageLog(logger: logger, down: "Redis unreachable; waiting for it", back: "Redis is back; consuming again")
        while !Task.isCancelled {
            do {
                try await consume(handle) { outage.succeeded() }
            } catch let error as RedisError where error.isUnavailable {
                outage.failed(error)
                guard (try? await Task.sleep(for: .milliseconds(500))) != nil else { return }
            } catch let error as RedisError where error.isServerError("NOGROUP") || error.isServerError("UNBLOCKED") {
                // Redis lost the stream and the group with it (a flush, an empty restart, a
                // failover; a read blocked at that moment hears UNBLOCKED): the group is made again from the stream's start, where the service
                // publishes every lost event again; consumers drop repeats by `event_id`.
                logger.warning("the consumer group is gone (Redis lost the stream); creating it again", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Creates the group if needed, hands over this consumer's pending entries, then new ones.
    private func consume(_ handle: @Sendable (Entry) async throws -> Void, connected: () -> Void) async throws {
        try await createGroup()
        connected()
        // "0": this consumer's delivered-but-unacknowledged entries; empty once caught up.
        while true {
            let pending = try await read(from: "0", block: false)
            if pending.isEmpty { break }
            try await process(pending, handle)
        }
        while !Task.isCancelled {
            try await process(try await read(from: ">", block: true), handle)
        }
    }

    private func process(_ entries: [Entry], _ handle: @Sendable (Entry) async throws -> Void) async throws {
        for entry in entries {
            if entry.event != nil { try await handle(entry) }
            try await redis.send("XACK", .key(OrderEvent.stream), RedisArgument(group), RedisArgument(entry.id))
        }
    }

    private func createGroup() async throws {
        do {
            try await redis.send("XGROUP", "CREATE", .key(OrderEvent.stream), RedisArgument(group), "0", "MKSTREAM")
        } catch let error as RedisError where error.isServerError("BUSYGROUP") {
            // The group exists: carry on where it left off.
        }
    }

    private func read(from id: String, block: Bool) async throws -> [Entry] {
        var arguments: [RedisArgument] = ["XREADGROUP", "GROUP", RedisArgument(group), RedisArgument(consumer),
                                          "COUNT", RedisArgument(batchSize)]
        if block { arguments += ["BLOCK", RedisArgument(blockMilliseconds)] }
        arguments += ["STREAMS", .key(OrderEvent.stream), RedisArgument(id)]
        let reply = try await redis.send(RedisCommand(arguments))
        // [[stream, [[id, [field, value, ...] | nil], ...]]], or nil when a blocking read timed out.
        guard let streams = reply.array, let entries = streams.first?.array?.last?.array else { return [] }
        return entries.compactMap { entry in
            guard let parts = entry.array, let id = parts.first?.string else { return nil }
            let fields = parts.count > 1 ? parts[1].array ?? [] : []
            let event = stride(from: 0, to: fields.count - 1, by: 2)
                .first { fields[$0].string == "event" }
                .flatMap { fields[$0 + 1].string }
            return Entry(id: id, event: event)
        }
    }
}
