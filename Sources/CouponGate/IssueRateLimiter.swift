import LuaScripts
import RedisClient

/// A token bucket: `perSecond` tokens flow in, at most `burst` are kept; each request takes one.
public struct TokenBucket: Sendable, Equatable, CustomStringConvertible {
    public var perSecond: Double
    public var burst: Int

    public init(perSecond: Double, burst: Int) {
        self.perSecond = perSecond
        self.burst = burst
    }

    /// `RATE:BURST` (e.g. `2:10`: two requests a second, bursts of ten); nil for anything else,
    /// including a rate outside 0.001 to 1,000,000 a second or a burst outside 1 to 1,000,000.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let rate = Double(parts[0]), (0.001...1_000_000).contains(rate),
              let burst = Int(parts[1]), (1...1_000_000).contains(burst)
        else { return nil }
        self.init(perSecond: rate, burst: burst)
    }

    /// The time between two tokens, as `rate-limit.lua` counts it.
    var intervalMicroseconds: Int64 { max(1, Int64((1_000_000 / perSecond).rounded())) }

    public var description: String {
        let rate = perSecond.rounded() == perSecond ? String(Int64(perSecond)) : String(perSecond)
        return "\(rate):\(burst)"
    }
}

/// How fast `POST /coupons/issue` may be called; nil turns that limit off.
public struct IssueRateLimits: Sendable, Equatable {
    public var perUser: TokenBucket?
    public var perAddress: TokenBucket?

    public init(perUser: TokenBucket?, perAddress: TokenBucket?) {
        self.perUser = perUser
        self.perAddress = perAddress
    }

    /// A user gets one coupon of each kind, so a few clicks in a row are plenty; an address may
    /// be a shared NAT, so it gets a hundred times that.
    public static let standard = IssueRateLimits(perUser: TokenBucket(perSecond: 2, burst: 5),
                                                 perAddress: TokenBucket(perSecond: 200, burst: 500))
    public static let off = IssueRateLimits(perUser: nil, perAddress: nil)
}

/// The request was over its rate limit; it may try again after `retryAfter`.
public struct RateLimited: Error, Sendable {
    public let retryAfter: Duration
}

/// The rate limit in front of the coupon gate: one token bucket per user and one per client
/// address, kept in Redis (`rate-limit.lua`) so every server process shares them.
///
/// It has no queue of its own: the coupon gate asks it about each batch it takes, just before the
/// issue script, so the limit costs one extra script call per batch and no extra wait per request.
struct IssueRateLimiter: Sendable {
    private let limits: IssueRateLimits
    private let redis: any RedisClient

    init(redis: any RedisClient, limits: IssueRateLimits) {
        self.redis = redis
        self.limits = limits
    }

    /// For each request (user, client address) in arrival order: nil when it may go on (a token
    /// taken from each of its buckets), else how long until it would. A refused request takes
    /// nothing. Redis errors are thrown as they are.
    func admit(_ requests: [(userID: Int64, address: String)]) async throws -> [Duration?] {
        guard limits.perUser != nil || limits.perAddress != nil else {
            return Array(repeating: nil, count: requests.count)
        }
        var keys: [String] = []
        var keyIndex: [String: Int] = [:]
        var bucketArgs: [RedisArgument] = []
        var requestArgs: [RedisArgument] = []
        func index(_ key: String, _ bucket: TokenBucket?) -> Int {
            guard let bucket else { return 0 }
            if let known = keyIndex[key] { return known }
            keys.append(key)
            keyIndex[key] = keys.count
            bucketArgs.append(RedisArgument(bucket.intervalMicroseconds))
            bucketArgs.append(RedisArgument(bucket.burst))
            return keys.count
        }
        for request in requests {
            requestArgs.append(RedisArgument(index("ratelimit:{issue}:user:\(request.userID)", limits.perUser)))
            requestArgs.append(RedisArgument(index("ratelimit:{issue}:addr:\(request.address)", limits.perAddress)))
        }
        let reply = try await redis.run(LuaScripts.rateLimit, keys: keys, args: bucketArgs + requestArgs)
        guard let waits = reply.array?.compactMap(\.int), waits.count == requests.count else {
            throw RedisError(.protocolError, "rate-limit returned \(reply)")
        }
        return waits.map { $0 == 0 ? nil : .milliseconds($0) }
    }
}
