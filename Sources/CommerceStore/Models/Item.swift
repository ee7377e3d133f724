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
        json.object { writeFields(to: &$0) }
    }

    /// The item's fields without the braces, for shapes that extend `Item` (a popular item).
    public func writeFields(to json: inout JSONWriter) {
        json.field("item_id", itemID)
        json.field("name", name)
        json.field("price", price)
        json.field("stock", stock)
    }
}
