import CommerceStore
import Logging
import ServiceLifecycle
import ServiceTasks

/// Hands committed orders (see ``OutboxStore``) to one ``OutboxSink`` in commit order, then moves
/// the sink's cursor past them. Delivery is at least once: a crash between delivering and moving the
/// cursor hands the batch over again, and the sink drops what it already has; a sink that lost
/// orders it had taken moves the cursor back. While the sink cannot take them, orders wait in
/// the store.
public final class OutboxRelay: Service, Sendable {
    private let outbox: any OutboxStore
    private let sink: any OutboxSink
    private let now: @Sendable () -> Int64
    /// While true, nothing is delivered (the sink's Redis is being repaired, and the repair
    /// moves the cursor).
    private let isPaused: @Sendable () -> Bool
    private let logger: Logger
    private let batchSize: Int
    private let pollInterval: Duration
    private let retryInterval: Duration

    /// - Parameters:
    ///   - batchSize: orders per delivery.
    ///   - pollInterval: how often an idle relay looks for new orders (the delay when idle).
    ///   - retryInterval: the pause after a failed attempt (Redis down).
    public init(
        outbox: any OutboxStore, sink: any OutboxSink, logger: Logger, now: @escaping @Sendable () -> Int64 = Timestamp.now,
        batchSize: Int = 256, pollInterval: Duration = .milliseconds(20), retryInterval: Duration = .milliseconds(250),
        isPaused: @escaping @Sendable () -> Bool = { false }
    ) {
        self.isPaused = isPaused
        self.outbox = outbox
        self.sink = sink
        self.now = now
        self.logger = logger
        self.batchSize = batchSize
        self.pollInterval = pollInterval
        self.retryInterval = retryInterval
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await self.relay() }
    }

    /// Delivers the oldest waiting batch; returns how many orders it handled (0: none wait).
    @discardableResult
    public func deliverBatch() async throws -> Int {
        let name = sink.cursorName
        let (cursor, batch) = try await outbox.pending(sink: name, limit: batchSize)
        guard let last = batch.last?.position else { return 0 }
        let rewindTo = try await sink.deliver(batch, after: cursor)
        if let rewindTo {
            logger.warning("outbox relay: \(name) lost orders it had taken; handing them over again",
                           metadata: ["after_position": "\(rewindTo)", "cursor_was": "\(cursor)"])
            try await outbox.rewind(sink: name, to: rewindTo, at: now())
            return batch.count
        }
        try await outbox.markSent(sink: name, through: last, at: now())
        return batch.count
    }

    private func relay() async {
        var outage = OutageLog(logger: logger,
                               down: "outbox relay: \(sink.cursorName) cannot take orders; they wait in the store until it can",
                               back: "outbox relay: \(sink.cursorName) takes orders again, the waiting ones are going out")
        while !Task.isCancelled {
            do {
                if isPaused() {
                    try await Task.sleep(for: pollInterval)
                    continue
                }
                let handled = try await deliverBatch()
                outage.succeeded()
                if handled < batchSize { try await Task.sleep(for: pollInterval) }
            } catch is CancellationError {
                return
            } catch {
                outage.failed(error)
                // Cancelled (shutdown) while waiting: return normally, as above.
                guard (try? await Task.sleep(for: retryInterval)) != nil else { return }
            }
        }
    }
}
