/// A paid order as the contract shows it (and as its `order.paid` event carries it).
public struct Order: Sendable, Hashable, Encodable {
    public enum Status: String, Sendable, Hashable, Encodable {
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

    enum CodingKeys: String, CodingKey {
        case orderID = "order_id", userID = "user_id", status, items, subtotal, discount, total
        case couponID = "coupon_id", balanceAfter = "balance_after", orderedAt = "ordered_at"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(orderID, forKey: .orderID)
        try container.encode(userID, forKey: .userID)
        try container.encode(status, forKey: .status)
        try container.encode(items, forKey: .items)
        try container.encode(subtotal, forKey: .subtotal)
        try container.encode(discount, forKey: .discount)
        try container.encode(total, forKey: .total)
        try container.encode(couponID, forKey: .couponID) // null without a coupon, not left out
        try container.encode(balanceAfter, forKey: .balanceAfter)
        try container.encode(orderedAt, forKey: .orderedAt)
    }
}

/// One line of an order, priced when the order was placed.
public struct OrderLine: Sendable, Hashable, Encodable {
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

    enum CodingKeys: String, CodingKey {
        case itemID = "item_id", name, quantity, unitPrice = "unit_price", lineTotal = "line_total"
    }
}
