/// A user's point balance: `{"user_id", "balance"}`.
public struct PointBalance: Sendable, Hashable, Encodable {
    public var userID: Int64
    public var balance: Int64

    public init(userID: Int64, balance: Int64) {
        self.userID = userID
        self.balance = balance
    }

    enum CodingKeys: String, CodingKey {
        case userID = "user_id", balance
    }
}

/// One change of a balance in the ledger (`point_history`).
public struct PointEntry: Sendable, Hashable, Encodable {
    public enum Kind: String, Sendable, Hashable, Encodable {
        case charge = "CHARGE", use = "USE", refund = "REFUND"
    }

    public var id: Int64
    public var kind: Kind
    /// The signed change: positive for charges and refunds, negative for uses.
    public var amount: Int64
    public var balanceAfter: Int64
    /// The order that used (or refunded) the points; nil for charges.
    public var orderID: Int64?
    public var at: Timestamp

    public init(id: Int64, kind: Kind, amount: Int64, balanceAfter: Int64, orderID: Int64?, at: Timestamp) {
        self.id = id
        self.kind = kind
        self.amount = amount
        self.balanceAfter = balanceAfter
        self.orderID = orderID
        self.at = at
    }

    enum CodingKeys: String, CodingKey {
        case id, kind, amount, balanceAfter = "balance_after", orderID = "order_id", at
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(kind, forKey: .kind)
        try container.encode(amount, forKey: .amount)
        try container.encode(balanceAfter, forKey: .balanceAfter)
        try container.encode(orderID, forKey: .orderID) // null for charges, not left out
        try container.encode(at, forKey: .at)
    }
}
