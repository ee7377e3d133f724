import CommerceStore
import LuaScripts
import RedisClient

/// How `scripts/lua/coupon-issue.lua` decided one request.
enum CouponIssueStatus: Int64, Sendable {
    case issued = 0
    /// Redis does not know the coupon (it was never published, or Redis lost it).
    case unknownCoupon = 1
    case outsideWindow = 2
    /// The user holds it already (also when an earlier request of the same batch got it).
    case alreadyIssued = 3
    case soldOut = 4
}

/// One call of `coupon-issue.lua`: a batch of requests for one coupon decided atomically, in
/// arrival order.
struct CouponIssueScript: Sendable {
    let redis: any RedisClient

    /// The stock left afterwards and each request's status, in order.
    func run(couponID: Int64, _ requests: [Issuance]) async throws -> (remaining: Int64, statuses: [CouponIssueStatus]) {
        let keys = CouponKeys(couponID: couponID)
        var args: [RedisArgument] = []
        args.reserveCapacity(requests.count * 2)
        for request in requests {
            args.append(RedisArgument(request.userID))
            args.append(RedisArgument(request.issuedAt))
        }
        let reply = try await redis.run(LuaScripts.couponIssue, keys: [
            keys.meta, keys.remaining, keys.issued,
        ], args: args, requiringTrustedData: true)
        guard let values = reply.array?.compactMap(\.int), values.count == requests.count + 1 else {
            throw RedisError(.protocolError, "coupon-issue returned \(reply)")
        }
        let statuses = try values.dropFirst().map { value in
            guard let status = CouponIssueStatus(rawValue: value) else {
                throw RedisError(.protocolError, "coupon-issue returned status \(value)")
            }
            return status
        }
        return (values[0], statuses)
    }
}
