/// A paid order.
public struct Order: Sendable, Hashable {
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
}

/// One line of an order, priced when the order was placed.
public struct OrderLine: Sendable, Hashable {
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
}

/// What a user asks to buy: validated lines (1...50, no item twice) and an optional coupon held
/// by the user to pay part of it.
public struct NewOrder: Sendable, Hashable {
    public struct Line: Sendable, Hashable {
        public var itemID: Int64
        public var quantity: Int64

        public init(itemID: Int64, quantity: Int64) {
            self.itemID = itemID
            self.quantity = quantity
        }
    }

    public var userID: Int64
    public var lines: [Line]
    public var couponID: Int64?

    public init(userID: Int64, lines: [Line], couponID: Int64?) {
        self.userID = userID
        self.lines = lines
        self.couponID = couponID
    }
}
