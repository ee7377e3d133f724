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
/// It has no queue of its own: the coupon gate asks it about each batch it takes. On one Redis
/// server the batch's buckets go into the issue script's own call (``oneCallArguments(_:)``), so
/// the limit costs no extra round trip; on a cluster it is one extra call before the issue script.
///
/// On a Redis Cluster the buckets are spread over ``clusterShards`` hash tags
/// (`ratelimit:{issue-N}:...`, users by id, addresses by hash), so that no one node takes a
/// script call for every request. A request's two buckets then often sit on different slots,
/// which one script call cannot touch: the user buckets are taken first (one call per shard, with
/// the address bucket too when it shares the shard), then the address buckets of the requests
/// that passed, and a request refused there gets its user token back (`rate-limit-return.lua`),
/// so a refused request still takes nothing. On one Redis everything is one shard.
struct IssueRateLimiter: Sendable {
    /// Hash tags the buckets are spread over on a cluster: enough that three to six primaries
    /// each get a share, few enough that a batch of 256 requests makes a handful of calls.
    static let clusterShards = 8

    private let limits: IssueRateLimits
    private let redis: any RedisClient
    private let shards: Int

    init(redis: any RedisClient, limits: IssueRateLimits) {
        self.redis = redis
        self.limits = limits
        self.shards = redis is RedisClusterClient ? Self.clusterShards : 1
    }

    /// One bucket of one request.
    private struct Bucket {
        var key: String
        var shard: Int
        var limit: TokenBucket
    }

    /// For each request (user, client address) in arrival order: nil when it may go on (a token
    /// taken from each of its buckets), else how long until it would. A refused request takes
    /// nothing. Redis errors are thrown as they are.
    func admit(_ requests: [(userID: Int64, address: String)]) async throws -> [Duration?] {
        guard limits.perUser != nil || limits.perAddress != nil else {
            return Array(repeating: nil, count: requests.count)
        }
        let buckets = requests.map(buckets(of:))
        // First call per request: its first bucket, and the other when it shares the shard.
        var first: [(request: Int, buckets: [Bucket])] = []
        var second: [(request: Int, buckets: [Bucket])] = []
        for (index, own) in buckets.enumerated() {
            first.append((index, own.filter { $0.shard == own[0].shard }))
            let rest = own.filter { $0.shard != own[0].shard }
            if !rest.isEmpty { second.append((index, rest)) }
        }
        var refused = try await take(first)
        let refusedLater = try await take(second.filter { refused[$0.request] == nil })
        var giveBack: [Bucket] = []
        for (index, wait) in refusedLater {
            refused[index] = wait
            giveBack += first[index].buckets  // `first` holds every request, in order
        }
        if !giveBack.isEmpty { try await returnTokens(giveBack) }
        return requests.indices.map { refused[$0] }
    }

    /// The buckets of one request (its user's and its address's, as far as they are limited).
    private func buckets(of request: (userID: Int64, address: String)) -> [Bucket] {
        var buckets: [Bucket] = []
        if let perUser = limits.perUser {
            let shard = Int(request.userID.magnitude % UInt64(shards))
            buckets.append(Bucket(key: "ratelimit:{issue-\(shard)}:user:\(request.userID)", shard: shard, limit: perUser))
        }
        if let perAddress = limits.perAddress {
            let shard = Int(HashSlot(key: request.address).rawValue) % shards
            buckets.append(Bucket(key: "ratelimit:{issue-\(shard)}:addr:\(request.address)", shard: shard, limit: perAddress))
        }
        return buckets
    }

    /// `rate-limit.lua`'s keys and arguments for a batch whose buckets all sit on one shard.
    struct ScriptArguments {
        var keys: [String]
        var args: [RedisArgument]
    }

    /// On one Redis server, with a limit on: the batch's `rate-limit.lua` keys and arguments, for
    /// the gate to run inside its issue call (`coupon-issue-limited.lua`: one round trip per batch
    /// instead of two); nil when the limit is off or the buckets are spread over a cluster.
    func oneCallArguments(_ requests: [(userID: Int64, address: String)]) -> ScriptArguments? {
        guard shards == 1, limits.perUser != nil || limits.perAddress != nil else { return nil }
        return arguments(requests.map(buckets(of:)))
    }

    /// The keys (each once) and arguments of `rate-limit.lua` for the requests' buckets.
    private func arguments(_ requests: [[Bucket]]) -> ScriptArguments {
        var keys: [String] = []
        var keyIndex: [String: Int] = [:]
        var bucketArgs: [RedisArgument] = []
        var requestArgs: [RedisArgument] = []
        for buckets in requests {
            for slot in 0..<2 {
                guard slot < buckets.count else {
                    requestArgs.append(0)
                    continue
                }
                let bucket = buckets[slot]
                if keyIndex[bucket.key] == nil {
                    keys.append(bucket.key)
                    keyIndex[bucket.key] = keys.count
                    bucketArgs.append(RedisArgument(bucket.limit.intervalMicroseconds))
                    bucketArgs.append(RedisArgument(bucket.limit.burst))
                }
                requestArgs.append(RedisArgument(keyIndex[bucket.key]!))
            }
        }
        return ScriptArguments(keys: keys, args: bucketArgs + requestArgs)
    }

    /// Takes a token from each listed bucket of each request that can have all of them, one
    /// script call per shard (concurrently). Returns the wait of each refused request.
    private func take(_ requests: [(request: Int, buckets: [Bucket])]) async throws -> [Int: Duration] {
        let byShard = Dictionary(grouping: requests) { $0.buckets[0].shard }
        // One shard or nothing to ask: no child tasks on the gate's hot path.
        if byShard.count <= 1 {
            guard let only = byShard.values.first else { return [:] }
            return try await takeOnOneShard(only)
        }
        return try await withThrowingTaskGroup(of: [Int: Duration].self) { group in
            for calls in byShard.values {
                group.addTask { try await takeOnOneShard(calls) }
            }
            return try await group.reduce(into: [:]) { $0.merge($1) { $1 } }
        }
    }

    private func takeOnOneShard(_ requests: [(request: Int, buckets: [Bucket])]) async throws -> [Int: Duration] {
        let call = arguments(requests.map(\.buckets))
        let waits = try Self.waits(try await redis.run(LuaScripts.rateLimit, keys: call.keys, args: call.args), count: requests.count)
        var refused: [Int: Duration] = [:]
        for (request, wait) in zip(requests, waits) where wait != nil { refused[request.request] = wait }
        return refused
    }

    /// `rate-limit.lua`'s reply for `count` requests: nil for each that passed, else its wait.
    static func waits(_ reply: RedisReply, count: Int) throws -> [Duration?] {
        guard let waits = reply.array?.compactMap(\.int), waits.count == count else {
            throw RedisError(.protocolError, "rate-limit returned \(reply)")
        }
        return waits.map { $0 > 0 ? .milliseconds($0) : nil }
    }

    /// One token back to each bucket (as often as it is listed), one call per shard.
    private func returnTokens(_ buckets: [Bucket]) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for shard in Dictionary(grouping: buckets, by: \.shard).values {
                group.addTask {
                    let counts = Dictionary(grouping: shard, by: \.key)
                    var args: [RedisArgument] = []
                    for key in counts.keys {
                        args += [RedisArgument(counts[key]![0].limit.intervalMicroseconds), RedisArgument(counts[key]!.count)]
                    }
                    try await redis.run(LuaScripts.rateLimitReturn, keys: Array(counts.keys), args: args)
                }
            }
            try await group.waitForAll()
        }
    }
}
