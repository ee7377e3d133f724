import CommerceStore
import PostgresNIO

struct PostgresItemStore: ItemStore {
    let store: PostgresStore

    func create(name: String, price: Int64, stock: Int64, at now: Int64) async throws -> Item {
        try await store.connection { connection in
            let id = try await connection.value(Int64.self, """
                INSERT INTO items (name, price, stock, created_at, updated_at)
                VALUES (\(name), \(price), \(stock), \(now), \(now)) RETURNING id
                """)
            return Item(itemID: id!, name: name, price: price, stock: stock)
        }
    }

    func update(itemID: Int64, name: String?, price: Int64?, stock: Int64?, at now: Int64) async throws -> Item {
        try await store.connection { connection in
            let rows = try await connection.rows("""
                UPDATE items SET name = coalesce(\(name)::text, name), price = coalesce(\(price)::bigint, price),
                       stock = coalesce(\(stock)::bigint, stock), updated_at = \(now)
                WHERE id = \(itemID) AND deleted_at IS NULL
                RETURNING id, name, price, stock
                """)
            guard let row = rows.first else { throw CommerceError.itemNotFound(itemID) }
            return try PostgresItems.item(row)
        }
    }

    func delete(itemID: Int64, at now: Int64) async throws {
        try await store.connection { connection in
            let deleted = try await connection.rows("""
                UPDATE items SET deleted_at = \(now) WHERE id = \(itemID) AND deleted_at IS NULL RETURNING id
                """)
            guard !deleted.isEmpty else { throw CommerceError.itemNotFound(itemID) }
        }
    }

    func item(_ itemID: Int64) async throws -> Item? {
        try await store.connection { try await PostgresItems.live($0, [itemID])[itemID] }
    }

    func live(_ itemIDs: [Int64]) async throws -> [Int64: Item] {
        try await store.connection { try await PostgresItems.live($0, itemIDs) }
    }

    func page(afterID: Int64, limit: Int) async throws -> [Item] {
        try await store.connection { connection in
            try await connection.rows("""
                SELECT id, name, price, stock FROM items WHERE id > \(afterID) AND deleted_at IS NULL
                ORDER BY id LIMIT \(Int64(limit))
                """).map(PostgresItems.item)
        }
    }
}

enum PostgresItems {
    /// The live items among `itemIDs`, by id.
    static func live(_ connection: PostgresConnection, _ itemIDs: [Int64]) async throws -> [Int64: Item] {
        try await connection.rows("""
            SELECT id, name, price, stock FROM items WHERE id = ANY(\(itemIDs)) AND deleted_at IS NULL
            """).reduce(into: [:]) { found, row in
            let item = try item(row)
            found[item.itemID] = item
        }
    }

    /// An item from `id, name, price, stock`.
    static func item(_ row: PostgresRow) throws -> Item {
        let (id, name, price, stock) = try row.decode((Int64, String, Int64, Int64).self)
        return Item(itemID: id, name: name, price: price, stock: stock)
    }
}
