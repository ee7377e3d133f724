import CommerceStore

struct SQLiteItemStore: ItemStore {
    let store: SQLiteStore

    func create(name: String, price: Int64, stock: Int64, at now: Int64) async throws -> Item {
        try await store.write { try ItemCatalog.create($0, name: name, price: price, stock: stock, at: now) }
    }

    func update(itemID: Int64, name: String?, price: Int64?, stock: Int64?, at now: Int64) async throws -> Item {
        try await store.write { try ItemCatalog.update($0, itemID: itemID, name: name, price: price, stock: stock, at: now) }
    }

    func delete(itemID: Int64, at now: Int64) async throws {
        try await store.write { try ItemCatalog.delete($0, itemID: itemID, at: now) }
    }

    func item(_ itemID: Int64) async throws -> Item? {
        try await store.read { try ItemCatalog.find($0, itemID: itemID) }
    }

    func live(_ itemIDs: [Int64]) async throws -> [Int64: Item] {
        try await store.read { try ItemCatalog.live($0, itemIDs: itemIDs) }
    }

    func page(afterID: Int64, limit: Int) async throws -> [Item] {
        try await store.read { try ItemCatalog.page($0, afterID: afterID, limit: limit) }
    }
}
