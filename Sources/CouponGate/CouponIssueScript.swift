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
/// arrival order; on one Redis server with a rate limit on, `coupon-issue-limited.lua` takes the
/// batch's rate-limit tokens in the same call.
struct CouponIssueScript: Sendable {
    let redis: any RedisClient

    /// What Redis decided: the stock left afterwards and the status of each request it decided.
    struct Decision {
        var remaining: Int64
        var statuses: [CouponIssueStatus]
    }

    /// Decides every request; returns the stock left afterwards and each request's status, in order.
    func run(couponID: Int64, _ requests: [Issuance]) async throws -> Decision {
        let reply = try await redis.run(LuaScripts.couponIssue, keys: CouponKeys(couponID: couponID).all, args: Self.arguments(requests),
                                        requiringTrustedData: true)
        return try Self.decision(reply, count: requests.count)
    }

    /// Takes the requests' rate-limit tokens (`limit`: the batch's `rate-limit.lua` keys and
    /// arguments) and decides the requests that passed, in one script call. Returns each
    /// request's wait (nil: passed) and the decision of those that passed, in order.
    func run(couponID: Int64, _ requests: [Issuance], limit: IssueRateLimiter.ScriptArguments) async throws
        -> (waits: [Duration?], decided: Decision) {
        let args = [RedisArgument(limit.keys.count), RedisArgument(limit.args.count)] + limit.args + Self.arguments(requests)
        let reply = try await redis.run(LuaScripts.couponIssueLimited, keys: limit.keys + CouponKeys(couponID: couponID).all, args: args,
                                        requiringTrustedData: true)
        guard let parts = reply.array, parts.count == 2 else {
            throw RedisError(.protocolError, "coupon-issue-limited returned \(reply)")
        }
        let waits = try IssueRateLimiter.waits(parts[0], count: requests.count)
        return (waits, try Self.decision(parts[1], count: waits.count { $0 == nil }))
    }

    private static func arguments(_ requests: [Issuance]) -> [RedisArgument] {
        var args: [RedisArgument] = []
        args.reserveCapacity(requests.count * 2)
        for request in requests {
            args.append(RedisArgument(request.userID))
            args.append(RedisArgument(request.issuedAt))
        }
        return args
    }

    /// `coupon-issue.lua`'s reply for `count` requests (`{0}` when there were none).
    private static func decision(_ reply: RedisReply, count: Int) throws -> Decision {
        guard let values = reply.array?.compactMap(\.int), values.count == count + 1 else {
            throw RedisError(.protocolError, "coupon-issue returned \(reply)")
        }
        let statuses = try values.dropFirst().map { value in
            guard let status = CouponIssueStatus(rawValue: value) else {
                throw RedisError(.protocolError, "coupon-issue returned status \(value)")
            }
            return status
        }
        return Decision(remaining: values[0], statuses: statuses)
    }
}
