import CommerceCore
import CommerceStore
import Hummingbird

/// `POST /orders`, `GET /orders/{order_id}`, `GET /orders?user_id=`.
struct OrdersController {
    let orders: any OrderStore
    let itemCache: ItemCache
    let metrics: CommerceMetrics
    let now: @Sendable () -> Int64

    /// The `POST /orders` body. It is also the request's idempotency fingerprint (its canonical
    /// JSON), so its wire names must not change.
    struct OrderBody: Codable, Sendable {
        struct Line: Codable, Sendable {
            var itemID: Int64
            var quantity: Int64
            enum CodingKeys: String, CodingKey { case itemID = "item_id", quantity }
        }

        var userID: Int64
        var lines: [Line]
        var couponID: Int64?
        enum CodingKeys: String, CodingKey { case userID = "user_id", lines = "items", couponID = "coupon_id" }
    }

    func addRoutes(to router: some RouterMethods<CommerceRequestContext>) {
        router.post("/orders") { request, context in
            let body = try await JSONBody.decode(OrderBody.self, from: request, context: context)
            let order = try Self.validated(body)
            try context.authorize(userID: order.userID)
            let result: IdempotentResult<Order>
            do {
                result = try await orders.place(
                    order, at: now(), idempotency: try IdempotentWrite.request(request, fingerprint: body, status: .created))
            } catch let refusal as CommerceError {
                metrics.order(outcome: refusal.code.name)
                throw refusal
            }
            let paid: Bool
            switch result {
            case .done(.success), .stored(.success, _):
                metrics.order(outcome: "PAID")
                paid = true
            case .done(.failure(let refusal)):
                metrics.order(outcome: refusal.code.name)
                paid = false
            case .stored(.failure, _):
                metrics.order(outcome: "REFUSED")  // a refusal remembered under its Idempotency-Key
                paid = false
            case .replayed(let stored):
                metrics.order(outcome: "REPLAYED")
                paid = stored.status == Int(HTTPResponse.Status.created.code)
            }
            // Stock is exact: no read after the 201 may see the cache from before the order.
            if paid { await itemCache.invalidate(itemIDs: order.lines.map(\.itemID)) }
            return try IdempotentWrite.response(result, status: .created)
        }
        router.get("/orders/{order_id}") { _, context in
            let orderID = try context.pathID("order_id")
            // Someone else's order is answered like a missing one: its existence is not revealed.
            guard let order = try await orders.order(orderID), context.identity?.mayActFor(order.userID) == true else {
                throw CommerceError(.orderNotFound, "order \(orderID) does not exist")
            }
            return JSONResponse.response(status: .ok, order)
        }
        router.get("/orders") { request, context in
            let userID = try request.queryID("user_id")
            try context.authorize(userID: userID)
            let list = try await orders.orders(userID: userID, limit: try request.queryLimit())
            return JSONResponse.response(status: .ok, NamedList(name: "orders", elements: list))
        }
    }

    /// 1 to 50 lines, each quantity 1 to 1000, no item twice; ids positive.
    static func validated(_ body: OrderBody) throws -> NewOrder {
        _ = try Field.id(body.userID, "user_id")
        guard (1...50).contains(body.lines.count) else {
            throw Problem.invalidRequest("`items`: must hold 1 to 50 lines")
        }
        var seen = Set<Int64>()
        for (index, line) in body.lines.enumerated() {
            _ = try Field.id(line.itemID, "items[\(index)].item_id")
            _ = try Field.integer(line.quantity, in: 1...1000, "items[\(index)].quantity")
            guard seen.insert(line.itemID).inserted else {
                throw Problem.invalidRequest("`items[\(index)].item_id`: item \(line.itemID) appears twice")
            }
        }
        if let couponID = body.couponID { _ = try Field.id(couponID, "coupon_id") }
        return NewOrder(userID: body.userID, lines: body.lines.map { .init(itemID: $0.itemID, quantity: $0.quantity) },
                        couponID: body.couponID)
    }
}
