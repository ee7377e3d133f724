/// A product as the contract shows it: `{"item_id", "name", "price", "stock"}`.
public struct Item: Sendable, Hashable, Encodable {
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

    enum CodingKeys: String, CodingKey {
        case itemID = "item_id", name, price, stock
    }
}
