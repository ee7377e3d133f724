import CommerceStore
import Hummingbird

/// `POST /points/charge`, `GET /points`, `GET /points/history`.
struct PointsController {
    let dependencies: AppDependencies

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
            let now = dependencies.now()
            return try await dependencies.idempotentWrite.perform(
                key: try IdempotentWrite.key(of: request), userID: userID, fingerprint: body, status: .ok
            ) { db in
                try PointLedger.charge(db, userID: userID, amount: amount, at: now)
            }
        }
        router.get("/points") { request, context in
            let userID = try request.queryID("user_id")
            try context.authorize(userID: userID)
            let balance = try await dependencies.database.read { try PointLedger.balance($0, userID: userID) }
            return JSONResponse.response(status: .ok, balance)
        }
        router.get("/points/history") { request, context in
            let userID = try request.queryID("user_id")
            try context.authorize(userID: userID)
            let limit = try request.queryLimit()
            let entries = try await dependencies.database.read {
                try PointLedger.history($0, userID: userID, limit: limit)
            }
            return JSONResponse.response(status: .ok, NamedList(name: "entries", elements: entries))
        }
    }
}
