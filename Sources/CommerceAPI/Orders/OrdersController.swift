import CommerceStore
import Hummingbird

/// `POST /orders`, `GET /orders/{order_id}`, `GET /orders?user_id=`.
struct OrdersController {
    let dependencies: AppDependencies

    func addRoutes(to router: some RouterMethods<CommerceRequestContext>) {
        router.post("/orders") { request, context in
            let order = try Self.validated(try await JSONBody.decode(OrderRequest.self, from: request, context: context))
            try context.authorize(userID: order.userID)
            let now = dependencies.now()
            let response: Response
            do {
                response = try await dependencies.idempotentWrite.perform(
                    key: try IdempotentWrite.key(of: request), userID: order.userID, fingerprint: order, status: .created
                ) { db in
                    try OrderBook.place(db, order, at: now)
                }
            } catch let refusal as CommerceError {
                dependencies.metrics.order(outcome: refusal.code.name)
                throw refusal
            }
            let outcome = if response.headers[IdempotentWrite.replayedHeader] != nil {
                "REPLAYED"
            } else if response.status == .created {
                "PAID"
            } else {
                "REFUSED"  // a refusal remembered under its Idempotency-Key
            }
            dependencies.metrics.order(outcome: outcome)
            // Stock is exact: no read after the 201 may see the cache from before the order.
            if response.status == .created { await dependencies.itemCache.invalidate(itemIDs: order.lines.map(\.itemID)) }
            return response
        }
        router.get("/orders/{order_id}") { _, context in
            let orderID = try context.pathID("order_id")
            // Someone else's order is answered like a missing one: its existence is not revealed.
            guard let order = try await dependencies.database.read({ try OrderBook.find($0, orderID: orderID) }),
                  context.identity?.mayActFor(order.userID) == true
            else {
                throw CommerceError(.orderNotFound, "order \(orderID) does not exist")
            }
            return JSONResponse.response(status: .ok, order)
        }
        router.get("/orders") { request, context in
            let userID = try request.queryID("user_id")
            try context.authorize(userID: userID)
            let limit = try request.queryLimit()
            let orders = try await dependencies.database.read { try OrderBook.list($0, userID: userID, limit: limit) }
            return JSONResponse.response(status: .ok, NamedList(name: "orders", elements: orders))
        }
    }

    /// 1 to 50 lines, each quantity 1 to 1000, no item twice; ids positive.
    static func validated(_ order: OrderRequest) throws -> OrderRequest {
        _ = try Field.id(order.userID, "user_id")
        guard (1...50).contains(order.lines.count) else {
            throw Problem.invalidRequest("`items`: must hold 1 to 50 lines")
        }
        var seen = Set<Int64>()
        for (index, line) in order.lines.enumerated() {
            _ = try Field.id(line.itemID, "items[\(index)].item_id")
            _ = try Field.integer(line.quantity, in: 1...1000, "items[\(index)].quantity")
            guard seen.insert(line.itemID).inserted else {
                throw Problem.invalidRequest("`items[\(index)].item_id`: item \(line.itemID) appears twice")
            }
        }
        if let couponID = order.couponID { _ = try Field.id(couponID, "coupon_id") }
        return order
    }
}
