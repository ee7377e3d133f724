import CommerceStore
import GRDB
import Logging
import LuaScripts
import RedisClient
import ServiceLifecycle

/// Publishes committed orders (see ``Outbox``) to ``OrderEvent/stream``, in commit order, then
/// moves the stream's cursor past them. Delivery is at least once: a crash between publishing
/// and moving the cursor hands a batch to the script again, whose watermark skips what it already
/// appended; if Redis loses events it had acknowledged, the script reports it and the cursor
/// moves back to publish them again. While Redis is down the events wait in SQLite.
public final class OutboxRelay: Service, Sendable {
    private let database: CommerceDatabase
    private let redis: RedisClient
    private let logger: Logger
    private let batchSize: Int
    private let pollInterval: Duration
    private let retryInterval: Duration

    /// - Parameters:
    ///   - batchSize: events per Redis round trip.
    ///   - pollInterval: how often an idle relay looks for new orders (the event delay when idle).
    ///   - retryInterval: the pause after a failed attempt (Redis down).
    public init(
        database: CommerceDatabase, redis: RedisClient, logger: Logger, batchSize: Int = 256,
        pollInterval: Duration = .milliseconds(20), retryInterval: Duration = .milliseconds(250)
    ) {
        self.database = database
        self.redis = redis
        self.logger = logger
        self.batchSize = batchSize
        self.pollInterval = pollInterval
        self.retryInterval = retryInterval
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await self.relay() }
    }

    /// Publishes the oldest waiting batch; returns how many orders it handled (0: none wait).
    @discardableResult
    public func publishBatch() async throws -> Int {
        let (cursor, batch) = try await database.read { [batchSize] db in
            let cursor = try Outbox.cursor(db, stream: OrderEvent.stream)
            return (cursor, try OrderBook.orders(db, ids: try Outbox.pending(db, after: cursor, limit: batchSize)))
        }
        guard let lastID = batch.last?.orderID else { return 0 }
        var args: [RedisArgument] = [RedisArgument(cursor)]
        args.reserveCapacity(1 + batch.count * 2)
        for order in batch {
            args.append(RedisArgument(order.orderID))
            args.append(RedisArgument(bytes: JSONWriter.encode(OrderEvent(order: order))))
        }
        let reply = try await redis.run(LuaScripts.ordersPublish, keys: [RedisArgument(OrderEvent.stream), RedisArgument(OrderEvent.watermark)], args: args)
        let now = AppDependencies.systemNow()
        if reply.array?.first?.int == -1, let watermark = reply.array?.last?.int {
            logger.warning("outbox relay: Redis lost order events it had acknowledged; publishing them again",
                           metadata: ["after_order": "\(watermark)", "cursor_was": "\(cursor)"])
            try await database.write { try Outbox.rewind($0, stream: OrderEvent.stream, to: watermark, at: now) }
            return batch.count
        }
        // Through the group-commit writer: the mark shares the next batch's commit (and fsync).
        try await database.write { try Outbox.markSent($0, stream: OrderEvent.stream, through: lastID, at: now) }
        return batch.count
    }

    private func relay() async {
        var waiting = false
        while !Task.isCancelled {
            do {
                let handled = try await publishBatch()
                if waiting {
                    logger.notice("outbox relay: publishing again, the waiting orders are going out")
                    waiting = false
                }
                if handled < batchSize { try await Task.sleep(for: pollInterval) }
            } catch is CancellationError {
                return
            } catch {
                if !waiting {
                    logger.warning("outbox relay: cannot publish; order events wait in SQLite until it can",
                                   metadata: ["error": "\(error)"])
                    waiting = true
                }
                // Cancelled (shutdown) while waiting: return normally, as above.
                guard (try? await Task.sleep(for: retryInterval)) != nil else { return }
            }
        }
    }
}
