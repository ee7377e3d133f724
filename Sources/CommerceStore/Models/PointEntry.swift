/// A user's point balance: `{"user_id", "balance"}`.
public struct PointBalance: Sendable, Hashable, JSONWritable {
    public var userID: Int64
    public var balance: Int64

    public init(userID: Int64, balance: Int64) {
        self.userID = userID
        self.balance = balance
    }

    public func write(to json: inout JSONWriter) {
        json.object {
            $0.field("user_id", userID)
            $0.field("balance", balance)
        }
    }
}

/// One change of a balance in the ledger (`point_history`).
public struct PointEntry: Sendable, Hashable, JSONWritable {
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

    public func write(to json: inout JSONWriter) {
        json.object {
            $0.field("id", id)
            $0.field("kind", kind.rawValue)
            $0.field("amount", amount)
            $0.field("balance_after", balanceAfter)
            $0.field("order_id", orderID)
            $0.field("at", at)
        }
    }
}
