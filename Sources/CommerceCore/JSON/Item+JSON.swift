import CommerceStore
import FlatJSON

/// `{"item_id", "name", "price", "stock"}`.
extension Item: JSONWritable {
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
