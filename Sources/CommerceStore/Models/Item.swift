/// A product: its price and the units that can still be ordered.
public struct Item: Sendable, Hashable {
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
}

/// How many units of one item were sold (in some span of time).
public struct ItemUnits: Sendable, Hashable {
    public var itemID: Int64
    public var units: Int64

    public init(itemID: Int64, units: Int64) {
        self.itemID = itemID
        self.units = units
    }
}
