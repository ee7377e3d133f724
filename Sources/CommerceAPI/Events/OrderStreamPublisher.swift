import CommerceStore
import LuaScripts
import RedisClient

/// Publishes order events to ``OrderEvent/stream`` for the outbox relay, with one script call
/// per batch (`scripts/lua/orders-publish.lua`) whose watermark skips what an earlier attempt
/// already appended and detects events Redis lost after acknowledging them.
public struct OrderStreamPublisher: OutboxSink {
    private let redis: RedisClient

    public init(redis: RedisClient) {
        self.redis = redis
    }

    public var cursorName: String { OrderEvent.stream }

    public func deliver(_ orders: [Order], after cursor: Int64) async throws -> Int64? {
        var args: [RedisArgument] = [RedisArgument(cursor)]
        args.reserveCapacity(1 + orders.count * 2)
        for order in orders {
            args.append(RedisArgument(order.orderID))
            args.append(RedisArgument(bytes: JSONWriter.encode(OrderEvent(order: order))))
        }
        let reply = try await redis.run(LuaScripts.ordersPublish, keys: [RedisArgument(OrderEvent.stream), RedisArgument(OrderEvent.watermark)], args: args)
        if reply.array?.first?.int == -1, let watermark = reply.array?.last?.int { return watermark }
        return nil
    }
}
