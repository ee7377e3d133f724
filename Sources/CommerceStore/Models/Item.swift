/// A product as the contract shows it: `{"item_id", "name", "price", "stock"}`.
public struct Item: Sendable, Hashable, JSONWritable {
    public var itemID: Int64
    public var name: String
    /// Won per unit.
    public var price: Int64
    /// Units that can still be ordered.
    public var stock: Int64

    public init(itemID: Int64, name: String, price: Int64, stock: Int64) {
        self.itemID = itemID
        self.name = name
        self.price = price
        self.stock = stock
    }

    public func write(to json: inout JSONWriter) {
        json.object {
            $0.field("item_id", itemID)
            $0.field("name", name)
            $0.field("price", price)
            $0.field("stock", stock)
        }
    }
}
