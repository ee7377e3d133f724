import CommerceStore
import FlatJSON

/// A paid order as the contract shows it (and as its `order.paid` event carries it).
extension Order: JSONWritable {
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

extension OrderLine: JSONWritable {
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
