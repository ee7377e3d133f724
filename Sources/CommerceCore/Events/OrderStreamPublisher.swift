import CommerceStore
import FlatJSON
import LuaScripts
import RedisClient

/// Publishes order events to ``OrderEvent/stream`` for the outbox relay, with one script call
/// per batch (`scripts/lua/orders-publish.lua`) whose watermark skips what an earlier attempt
/// already appended and detects events Redis lost after acknowledging them.
public struct OrderStreamPublisher: OutboxSink {
    private let redis: any RedisClient

    public init(redis: any RedisClient) {
        self.redis = redis
    }

    public var cursorName: String { OrderEvent.stream }

    public func deliver(_ entries: [OutboxEntry], after cursor: Int64) async throws -> Int64? {
        var args: [RedisArgument] = [RedisArgument(cursor)]
        args.reserveCapacity(1 + entries.count * 2)
        for entry in entries {
            args.append(RedisArgument(entry.position))
            args.append(RedisArgument(bytes: JSONWriter.encode(OrderEvent(order: entry.order))))
        }
        let reply = try await redis.run(LuaScripts.ordersPublish, keys: [OrderEvent.stream, OrderEvent.watermark], args: args,
                                        requiringTrustedData: true)
        guard let values = reply.array?.compactMap(\.int), values.count == 2 else {
            throw RedisError(.protocolError, "orders-publish returned \(reply)")
        }
        switch PublishResult(appended: values[0], watermark: values[1]) {
        case .appended: return nil
        case .lost(let watermark): return watermark
        }
    }
}

/// What `orders-publish.lua` did with a batch.
private enum PublishResult {
    /// The events past the watermark were appended.
    case appended
    /// The stream's watermark is below the cursor: Redis lost events it had acknowledged, and
    /// the cursor must move back to the watermark. Nothing was appended.
    case lost(watermark: Int64)

    init(appended: Int64, watermark: Int64) {
        self = appended == -1 ? .lost(watermark: watermark) : .appended
    }
}
