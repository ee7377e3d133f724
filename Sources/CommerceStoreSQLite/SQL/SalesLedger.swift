import CommerceStore
import GRDB

/// Units sold per item, summed from the paid orders: the durable truth the sales ranking in
/// Redis is rebuilt from, and the answer while Redis is away.
enum SalesLedger {
    /// Units per item over the orders placed in `range` (milliseconds since the epoch), for every
    /// item that sold (deleted ones too: the ranking skips them when it answers), by item id.
    static func unitsSold(_ db: Database, placedIn range: Range<Int64>) throws -> [ItemUnits] {
        try Row.fetchAll(db, sql: """
            SELECT oi.item_id, SUM(oi.quantity) FROM orders o JOIN order_items oi ON oi.order_id = o.id
            WHERE o.ordered_at >= ? AND o.ordered_at < ?
            GROUP BY oi.item_id ORDER BY oi.item_id
            """, arguments: [range.lowerBound, range.upperBound]).map { ItemUnits(itemID: $0[0], units: $0[1]) }
    }

    /// The `limit` live items that sold most in `range`, most units first, ties by smaller id.
    static func bestSellers(_ db: Database, placedIn range: Range<Int64>, limit: Int) throws -> [(item: Item, units: Int64)] {
        try Row.fetchAll(db, sql: """
            SELECT i.id, i.name, i.price, i.stock, s.units
            FROM (SELECT oi.item_id, SUM(oi.quantity) AS units
                  FROM orders o JOIN order_items oi ON oi.order_id = o.id
                  WHERE o.ordered_at >= ? AND o.ordered_at < ?
                  GROUP BY oi.item_id) s
            JOIN items i ON i.id = s.item_id AND i.deleted_at IS NULL
            ORDER BY s.units DESC, i.id
            LIMIT ?
            """, arguments: [range.lowerBound, range.upperBound, limit]).map { (ItemCatalog.item($0), $0[4]) }
    }

    /// The newest order's id (0: none yet). Read in the same transaction as sums, it says which
    /// orders the sums include: exactly those up to it.
    static func lastOrderID(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT max(id) FROM orders") ?? 0
    }
}
