import CommerceCore
import CommerceStore
import Hummingbird

/// The public catalogue: `GET /items` (keyset pages), `GET /items/{item_id}` (both through the
/// item cache) and `GET /items/popular`.
struct ItemsController {
    let itemCache: ItemCache
    let popularItems: PopularItems
    let now: @Sendable () -> Int64

    func addRoutes(to router: some RouterMethods<CommerceRequestContext>) {
        router.get("/items") { request, _ in
            let limit = try request.queryLimit()
            let afterID = try Self.cursor(request)
            return JSONResponse.response(status: .ok, bytes: try await itemCache.page(afterID: afterID, limit: limit))
        }
        router.get("/items/popular") { _, _ in
            JSONResponse.response(status: .ok, bytes: try await popularItems.answer(at: now()))
        }
        router.get("/items/{item_id}") { _, context in
            let itemID = try context.pathID("item_id")
            guard let item = try await itemCache.item(itemID) else { throw CommerceError.itemNotFound(itemID) }
            return JSONResponse.response(status: .ok, item)
        }
    }

    /// The cursor is the last item id of the previous page (keyset pagination: stable while
    /// items are added or deleted); absent means the first page.
    private static func cursor(_ request: Request) throws -> Int64 {
        guard let text = request.uri.queryParameters["cursor"] else { return 0 }
        guard let value = Int64(text), value >= 0 else {
            throw Problem.invalidRequest("`cursor`: is not a cursor this service returned")
        }
        return value
    }
}
