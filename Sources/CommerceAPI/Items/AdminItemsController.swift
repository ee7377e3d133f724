import CommerceCore
import CommerceStore
import Hummingbird

/// `POST /admin/items`, `PATCH /admin/items/{item_id}`, `DELETE /admin/items/{item_id}`; each
/// invalidates the item cache after its commit, before it answers.
struct AdminItemsController {
    let items: any ItemStore
    let itemCache: ItemCache
    let now: @Sendable () -> Int64

    struct CreateBody: Decodable, Sendable {
        var name: String
        var price: Int64
        var stock: Int64
    }

    /// Absent fields stay as they are; an explicit `null` is a 400 (there is no null to set).
    struct PatchBody: Decodable, Sendable {
        var name: String?
        var price: Int64?
        var stock: Int64?

        enum CodingKeys: String, CodingKey { case name, price, stock }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decodeUnlessAbsent(String.self, forKey: .name)
            price = try container.decodeUnlessAbsent(Int64.self, forKey: .price)
            stock = try container.decodeUnlessAbsent(Int64.self, forKey: .stock)
        }
    }

    func addRoutes(to router: some RouterMethods<CommerceRequestContext>) {
        router.post("/admin/items") { request, context in
            let body = try await JSONBody.decode(CreateBody.self, from: request, context: context)
            let name = try Field.name(body.name, "name")
            let price = try Field.integer(body.price, in: Field.price, "price")
            let stock = try Field.integer(body.stock, in: Field.stock, "stock")
            let item = try await items.create(name: name, price: price, stock: stock, at: now())
            await itemCache.invalidate(itemIDs: [item.itemID])
            return JSONResponse.response(status: .created, item)
        }
        router.patch("/admin/items/{item_id}") { request, context in
            let itemID = try context.pathID("item_id")
            let body = try await JSONBody.decode(PatchBody.self, from: request, context: context)
            guard body.name != nil || body.price != nil || body.stock != nil else {
                throw Problem.invalidRequest("`name`, `price`, `stock`: give at least one to change")
            }
            let name = try body.name.map { try Field.name($0, "name") }
            let price = try body.price.map { try Field.integer($0, in: Field.price, "price") }
            let stock = try body.stock.map { try Field.integer($0, in: Field.stock, "stock") }
            let item = try await items.update(itemID: itemID, name: name, price: price, stock: stock, at: now())
            await itemCache.invalidate(itemIDs: [itemID])
            return JSONResponse.response(status: .ok, item)
        }
        router.delete("/admin/items/{item_id}") { _, context in
            let itemID = try context.pathID("item_id")
            try await items.delete(itemID: itemID, at: now())
            await itemCache.invalidate(itemIDs: [itemID])
            return Response(status: .noContent)
        }
    }
}
