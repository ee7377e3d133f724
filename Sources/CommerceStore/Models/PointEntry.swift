/// A user's point balance.
public struct PointBalance: Sendable, Hashable {
    public var userID: Int64
    public var balance: Int64

    public init(userID: Int64, balance: Int64) {
        self.userID = userID
        self.balance = balance
    }
}

/// One change of a balance in the ledger.
public struct PointEntry: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
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
}
