import CommerceCore
import CommerceStore
import CouponGate
import FlatJSON
import Hummingbird

/// `POST /admin/coupons`, `GET /admin/coupons/{coupon_id}` and `PATCH /admin/coupons/{coupon_id}`.
struct AdminCouponsController {
    let coupons: any CouponStore
    let gate: CouponIssuer
    let registry: CouponRegistry
    let creation: CouponCreation
    let now: @Sendable () -> Int64

    struct CreateBody: Decodable, Sendable {
        var name: String
        var discountType: String
        var discountValue: Int64
        var stock: Int64
        var validFrom: String
        var validUntil: String
        enum CodingKeys: String, CodingKey {
            case name, stock
            case discountType = "discount_type", discountValue = "discount_value"
            case validFrom = "valid_from", validUntil = "valid_until"
        }
    }

    /// Absent fields stay as they are; an explicit `null` is a 400 (there is no null to set).
    struct PatchBody: Decodable, Sendable {
        var stock: Int64?
        var validUntil: String?

        enum CodingKeys: String, CodingKey {
            case stock
            case validUntil = "valid_until"
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            stock = try container.decodeUnlessAbsent(Int64.self, forKey: .stock)
            validUntil = try container.decodeUnlessAbsent(String.self, forKey: .validUntil)
        }
    }

    func addRoutes(to router: some RouterMethods<CommerceRequestContext>) {
        router.post("/admin/coupons") { request, context in
            let body = try await JSONBody.decode(CreateBody.self, from: request, context: context)
            let name = try Field.name(body.name, "name")
            guard let type = DiscountType(rawValue: body.discountType) else {
                throw Problem.invalidRequest("`discount_type`: must be FIXED or PERCENT")
            }
            let value = try Field.integer(body.discountValue, in: type.valueRange, "discount_value")
            let stock = try Field.integer(body.stock, in: Field.stock, "stock")
            let validFrom = try Field.timestamp(body.validFrom, "valid_from")
            let validUntil = try Field.timestamp(body.validUntil, "valid_until")
            guard validUntil > validFrom else { throw Problem.invalidRequest("`valid_until`: must be after `valid_from`") }
            let coupon = try await creation.create(
                NewCoupon(name: name, discountType: type, discountValue: value, stock: stock,
                          validFrom: validFrom, validUntil: validUntil), at: now())
            return JSONResponse.response(status: .created, AdminCouponView(coupon: coupon, remaining: stock, issued: 0, requests: nil))
        }
        router.get("/admin/coupons/{coupon_id}") { _, context in
            let couponID = try context.pathID("coupon_id")
            guard let coupon = try await coupons.coupon(couponID) else {
                throw CommerceError.couponNotFound(couponID)
            }
            guard let live = try await registry.liveCounts(couponID: couponID) else {
                throw Problem.serviceUnavailable("coupon \(couponID) is missing from Redis (lost data?); the reconcile job restores it")
            }
            return JSONResponse.response(status: .ok, AdminCouponView(
                coupon: coupon, remaining: live.remaining, issued: live.issued,
                requests: gate.counters.counts(couponID: couponID)))
        }
        router.patch("/admin/coupons/{coupon_id}") { request, context in
            let couponID = try context.pathID("coupon_id")
            let body = try await JSONBody.decode(PatchBody.self, from: request, context: context)
            guard body.stock != nil || body.validUntil != nil else {
                throw Problem.invalidRequest("`stock`, `valid_until`: give at least one to change")
            }
            let stock = try body.stock.map { try Field.integer($0, in: Field.stock, "stock") }
            let validUntil = try body.validUntil.map { try Field.timestamp($0, "valid_until") }
            let changed: CouponTermsChanged
            do {
                changed = try await gate.changeTerms(couponID: couponID, stock: stock, validUntil: validUntil)
            } catch let invalid as CouponTermsInvalid {
                throw Problem.invalidRequest(invalid.message)
            }
            return JSONResponse.response(status: .ok, AdminCouponView(
                coupon: changed.coupon, remaining: changed.remaining, issued: changed.issued,
                requests: gate.counters.counts(couponID: couponID)))
        }
    }
}

/// A coupon with Redis's live counts: `{"coupon_id", "name", "discount_type", "discount_value",
/// "stock", "valid_from", "valid_until", "remaining", "issued"}`, and on `GET` also
/// `issue_requests`: how this process's issue requests for it ended (issued, refused by reason).
struct AdminCouponView: JSONWritable {
    var coupon: Coupon
    var remaining: Int64
    var issued: Int64
    var requests: [IssueCounters.Outcome: Int64]?

    func write(to json: inout JSONWriter) {
        json.object {
            coupon.writeFields(to: &$0)
            $0.field("remaining", remaining)
            $0.field("issued", issued)
            if let requests {
                $0.field("issue_requests") { json in
                    json.object { fields in
                        for outcome in IssueCounters.Outcome.allCases { fields.field(outcome.rawValue, requests[outcome] ?? 0) }
                    }
                }
            }
        }
    }
}
