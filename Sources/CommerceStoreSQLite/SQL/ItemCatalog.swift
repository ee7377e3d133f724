import CommerceStore
import GRDB

/// Products and their stock. Every function runs inside the caller's transaction; deleted items
/// (soft delete, `deleted_at`) are invisible to all of them.
enum ItemCatalog {
    /// Adds an item and returns it with its new id.
    static func create(_ db: Database, name: String, price: Int64, stock: Int64, at now: Int64) throws -> Item {
        try db.execute(sql: """
            INSERT INTO items (name, price, stock, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
            """, arguments: [name, price, stock, now, now])
        return Item(itemID: db.lastInsertedRowID, name: name, price: price, stock: stock)
    }

    /// Changes the given fields of a live item; `ITEM_NOT_FOUND` when there is none.
    static func update(
        _ db: Database, itemID: Int64, name: String?, price: Int64?, stock: Int64?, at now: Int64
    ) throws -> Item {
        try db.execute(sql: """
            UPDATE items SET name = coalesce(?, name), price = coalesce(?, price), stock = coalesce(?, stock),
                   updated_at = ?
            WHERE id = ? AND deleted_at IS NULL
            """, arguments: [name, price, stock, now, itemID])
        guard db.changesCount == 1, let item = try find(db, itemID: itemID) else { throw CommerceError.itemNotFound(itemID) }
        return item
    }

    /// Soft-deletes a live item: it is no longer listed, shown or orderable; past orders keep it.
    static func delete(_ db: Database, itemID: Int64, at now: Int64) throws {
        try db.execute(sql: "UPDATE items SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL",
                       arguments: [now, itemID])
        guard db.changesCount == 1 else { throw CommerceError.itemNotFound(itemID) }
    }

    /// The live item with this id, or nil.
    static func find(_ db: Database, itemID: Int64) throws -> Item? {
        let statement = try db.cachedStatement(sql: """
            SELECT id, name, price, stock FROM items WHERE id = ? AND deleted_at IS NULL
            """)
        return try Row.fetchOne(statement, arguments: [itemID]).map(item)
    }

    /// The live items among `itemIDs`, by id (deleted and unknown ids are missing).
    static func live(_ db: Database, itemIDs: [Int64]) throws -> [Int64: Item] {
        let ids = "[" + itemIDs.map(String.init).joined(separator: ",") + "]"
        return try Row.fetchAll(db, sql: """
            SELECT id, name, price, stock FROM items WHERE id IN (SELECT value FROM json_each(?)) AND deleted_at IS NULL
            """, arguments: [ids]).reduce(into: [:]) { found, row in
            let item = item(row)
            found[item.itemID] = item
        }
    }

    /// Up to `limit` live items with ids above `afterID`, by id: one keyset page of the listing.
    static func page(_ db: Database, afterID: Int64, limit: Int) throws -> [Item] {
        let statement = try db.cachedStatement(sql: """
            SELECT id, name, price, stock FROM items WHERE id > ? AND deleted_at IS NULL ORDER BY id LIMIT ?
            """)
        return try Row.fetchAll(statement, arguments: [afterID, limit]).map(item)
    }

    static func item(_ row: Row) -> Item {
        Item(itemID: row[0], name: row[1], price: row[2], stock: row[3])
    }
}
