import CommerceStore
import FlatJSON

/// The data-platform event of a paid order: `{"event_id", "type": "order.paid", "order": Order}`,
/// published to the Redis Stream ``stream`` in field `event`.
public struct OrderEvent: JSONWritable, Sendable {
    /// The stream every order event goes to.
    public static let stream = "stream:orders"
    /// The publisher's watermark (highest order id appended); its hash tag puts it in the
    /// stream's cluster slot, so one script may touch both.
    static let watermark = "{stream:orders}:published"

    /// One per order (`order-<id>`), the same on every redelivery, so consumers can drop repeats.
    public var eventID: String
    public var type = "order.paid"
    public var order: Order

    public init(order: Order) {
        self.eventID = "order-\(order.orderID)"
        self.order = order
    }

    public func write(to json: inout JSONWriter) {
        json.object {
            $0.field("event_id", eventID)
            $0.field("type", type)
            $0.field("order", order)
        }
    }
}
