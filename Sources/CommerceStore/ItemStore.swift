/// Products and their stock. Deleted items (soft delete) are invisible to every method; past
/// orders keep them.
public protocol ItemStore: Sendable {
    /// Adds an item and returns it with its new id.
    func create(name: String, price: Int64, stock: Int64, at now: Int64) async throws -> Item

    /// Changes the given fields (nil: unchanged) of a live item; `ITEM_NOT_FOUND` when there is none.
    func update(itemID: Int64, name: String?, price: Int64?, stock: Int64?, at now: Int64) async throws -> Item

    /// Soft-deletes a live item; `ITEM_NOT_FOUND` when there is none.
    func delete(itemID: Int64, at now: Int64) async throws

    /// The live item with this id, or nil.
    func item(_ itemID: Int64) async throws -> Item?

    /// The live items among `itemIDs`, by id (deleted and unknown ids are missing).
    func live(_ itemIDs: [Int64]) async throws -> [Int64: Item]

    /// Up to `limit` live items with ids above `afterID`, by id: one keyset page of the listing.
    func page(afterID: Int64, limit: Int) async throws -> [Item]
}
