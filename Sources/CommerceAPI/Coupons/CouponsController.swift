import CommerceStore
import CouponGate
import FlatJSON
import Hummingbird

/// `POST /coupons/issue` (first come, first served, through the coupon gate) and `GET /coupons`.
struct CouponsController {
    let gate: CouponIssuer
    let coupons: any CouponStore
    /// Whose `X-Forwarded-For` gives the client address (the per-address rate limit's key).
    let proxies: TrustedProxies
    let now: @Sendable () -> Int64

    struct IssueBody: IntegerFieldsBody, Sendable {
        var userID: Int64
        var couponID: Int64
        enum CodingKeys: String, CodingKey { case userID = "user_id", couponID = "coupon_id" }

        init?(_ object: FlatJSONObject) {
            guard let userID = object["user_id"], let couponID = object["coupon_id"] else { return nil }
            self.userID = userID
            self.couponID = couponID
        }
    }

    func addRoutes(to router: some RouterMethods<CommerceRequestContext>) {
        router.post("/coupons/issue") { request, context in
            let body = try await JSONBody.decode(IssueBody.self, from: request, context: context)
            let userID = try Field.id(body.userID, "user_id")
            let couponID = try Field.id(body.couponID, "coupon_id")
            try context.authorize(userID: userID)
            let issued = try await gate.issue(
                userID: userID, couponID: couponID, address: proxies.clientAddress(peer: context.peerAddress, request: request.head),
                at: now())
            return JSONResponse.response(status: .created, issued)
        }
        router.get("/coupons") { request, context in
            let userID = try request.queryID("user_id")
            try context.authorize(userID: userID)
            let held = try await coupons.held(userID: userID)
            return JSONResponse.response(status: .ok, NamedList(name: "coupons", elements: held))
        }
    }
}
