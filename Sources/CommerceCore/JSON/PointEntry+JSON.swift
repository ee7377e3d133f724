import CommerceStore
import FlatJSON

/// `{"user_id", "balance"}`.
extension PointBalance: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object {
            $0.field("user_id", userID)
            $0.field("balance", balance)
        }
    }
}

/// One ledger entry: `{"id", "kind", "amount", "balance_after", "order_id", "at"}`.
extension PointEntry: JSONWritable {
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
