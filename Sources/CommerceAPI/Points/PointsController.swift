import CommerceStore
import Hummingbird

/// `POST /points/charge`, `GET /points`, `GET /points/history`.
struct PointsController {
    let points: any PointStore
    let now: @Sendable () -> Int64

    struct ChargeBody: Codable, Sendable {
        var userID: Int64
        var amount: Int64
        enum CodingKeys: String, CodingKey { case userID = "user_id", amount }
    }

    func addRoutes(to router: some RouterMethods<CommerceRequestContext>) {
        router.post("/points/charge") { request, context in
            let body = try await JSONBody.decode(ChargeBody.self, from: request, context: context)
            let userID = try Field.id(body.userID, "user_id")
            try context.authorize(userID: userID)
            let amount = try Field.integer(body.amount, in: 1...100_000_000, "amount")
            let result = try await points.charge(
                userID: userID, amount: amount, at: now(),
                idempotency: try IdempotentWrite.request(request, fingerprint: body, status: .ok))
            return try IdempotentWrite.response(result, status: .ok)
        }
        router.get("/points") { request, context in
            let userID = try request.queryID("user_id")
            try context.authorize(userID: userID)
            return JSONResponse.response(status: .ok, try await points.balance(userID: userID))
        }
        router.get("/points/history") { request, context in
            let userID = try request.queryID("user_id")
            try context.authorize(userID: userID)
            let entries = try await points.history(userID: userID, limit: try request.queryLimit())
            return JSONResponse.response(status: .ok, NamedList(name: "entries", elements: entries))
        }
    }
}
