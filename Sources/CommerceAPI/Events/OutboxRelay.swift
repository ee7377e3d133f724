import CommerceStore
import Foundation
import GRDB
import Logging
import LuaScripts
import RedisClient
import ServiceLifecycle

/// Publishes committed orders from the outbox to ``OrderEvent/stream``, in commit order, then
/// marks them sent. Delivery is at least once (a crash between publishing and marking repeats a
/// batch to the script, whose watermark then skips what was already appended). While Redis is
/// down the events wait in SQLite and go out when it is back.
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
        try await cancelWhenGracefulShutdown { try await self.relay() }
    }

    /// Publishes the oldest waiting batch; returns how many outbox entries it handled (0: none wait).
    @discardableResult
    public func publishBatch() async throws -> Int {
        let batch = try await database.read { [batchSize] db -> [(Int64, Order)] in
            let entries = try Outbox.pending(db, limit: batchSize)
            let orders = Dictionary(uniqueKeysWithValues: try OrderBook.orders(db, ids: entries.map(\.orderID)).map { ($0.orderID, $0) })
            return entries.compactMap { entry in orders[entry.orderID].map { (entry.id, $0) } }
        }
        guard let lastID = batch.last?.0 else { return 0 }
        var args: [RedisArgument] = []
        args.reserveCapacity(batch.count * 2)
        let encoder = JSONResponse.encoder
        for (id, order) in batch {
            args.append(RedisArgument(id))
            args.append(RedisArgument(bytes: Array(try encoder.encode(OrderEvent(order: order)))))
        }
        try await redis.run(LuaScripts.ordersPublish, keys: [RedisArgument(OrderEvent.stream), RedisArgument(OrderEvent.watermark)], args: args)
        let now = Timestamp(Date()).milliseconds
        // Through the group-commit writer: the mark shares the next batch's commit (and fsync).
        try await database.write { try Outbox.markSent($0, through: lastID, at: now) }
        return batch.count
    }

    private func relay() async throws {
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
                try await Task.sleep(for: retryInterval)
            }
        }
    }
}
