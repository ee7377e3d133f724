/// A paid order as the contract shows it (and as its `order.paid` event carries it).
public struct Order: Sendable, Hashable, JSONWritable {
    public enum Status: String, Sendable, Hashable {
        case paid = "PAID"
    }

    public var orderID: Int64
    public var userID: Int64
    public var status: Status
    public var items: [OrderLine]
    public var subtotal: Int64
    public var discount: Int64
    public var total: Int64
    public var couponID: Int64?
    public var balanceAfter: Int64
    public var orderedAt: Timestamp

    public init(
        orderID: Int64, userID: Int64, status: Status, items: [OrderLine], subtotal: Int64, discount: Int64,
        total: Int64, couponID: Int64?, balanceAfter: Int64, orderedAt: Timestamp
    ) {
        self.orderID = orderID
        self.userID = userID
        self.status = status
        self.items = items
        self.subtotal = subtotal
        self.discount = discount
        self.total = total
        self.couponID = couponID
        self.balanceAfter = balanceAfter
        self.orderedAt = orderedAt
    }

    public func write(to json: inout JSONWriter) {
        json.object {
            $0.field("order_id", orderID)
            $0.field("user_id", userID)
            $0.field("status", status.rawValue)
            $0.field("items", items)
            $0.field("subtotal", subtotal)
            $0.field("discount", discount)
            $0.field("total", total)
            $0.field("coupon_id", couponID)
            $0.field("balance_after", balanceAfter)
            $0.field("ordered_at", orderedAt)
        }
    }
}

/// One line of an order, priced when the order was placed.
public struct OrderLine: Sendable, Hashable, JSONWritable {
    public var itemID: Int64
    /// The item's name when ordered (a later rename does not change past orders).
    public var name: String
    public var quantity: Int64
    public var unitPrice: Int64
    public var lineTotal: Int64

    public init(itemID: Int64, name: String, quantity: Int64, unitPrice: Int64, lineTotal: Int64) {
        self.itemID = itemID
        self.name = name
        self.quantity = quantity
        self.unitPrice = unitPrice
        self.lineTotal = lineTotal
    }

    public func write(to json: inout JSONWriter) {
        json.object {
            $0.field("item_id", itemID)
            $0.field("name", name)
            $0.field("quantity", quantity)
            $0.field("unit_price", unitPrice)
            $0.field("line_total", lineTotal)
        }
    }
}
