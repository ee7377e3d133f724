import LuaScripts
import RedisClient
import Synchronization

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
/// Like the gate, it asks Redis for many requests at once: while one batch is with Redis the
/// next gathers, so a burst costs one extra script call per batch, not per request.
public final class IssueRateLimiter: Sendable {
    public let limits: IssueRateLimits
    private let redis: RedisClient
    private let queue = Mutex(Queue())

    public init(redis: RedisClient, limits: IssueRateLimits) {
        self.redis = redis
        self.limits = limits
    }

    /// Takes a token from the user's and the address's buckets, or throws ``RateLimited``
    /// (taking none) when either is empty. Redis errors are thrown as they are.
    public func admit(userID: Int64, address: String) async throws {
        guard limits.perUser != nil || limits.perAddress != nil else { return }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let startsBatch = queue.withLock { queue in
                queue.waiting.append(Request(userID: userID, address: address, continuation: continuation))
                defer { queue.isRunning = true }
                return !queue.isRunning
            }
            if startsBatch {
                Task { await self.runBatches() }
            }
        }
    }

    private struct Request: Sendable {
        let userID: Int64
        let address: String
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct Queue: Sendable {
        var waiting: [Request] = []
        var isRunning = false
    }

    /// Requests per script call, as for the coupon gate: each call holds Redis only briefly.
    private static let maxBatch = 256

    private func runBatches() async {
        while true {
            let batch = queue.withLock { queue -> [Request] in
                let batch = Array(queue.waiting.prefix(Self.maxBatch))
                queue.waiting.removeFirst(batch.count)
                if batch.isEmpty { queue.isRunning = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            await decide(batch)
        }
    }

    private func decide(_ batch: [Request]) async {
        var keys: [String] = []
        var keyIndex: [String: Int] = [:]
        var args: [RedisArgument] = []
        var requestArgs: [RedisArgument] = []
        func index(_ key: String, _ bucket: TokenBucket?) -> Int {
            guard let bucket else { return 0 }
            if let known = keyIndex[key] { return known }
            keys.append(key)
            keyIndex[key] = keys.count
            args.append(RedisArgument(bucket.intervalMicroseconds))
            args.append(RedisArgument(Int64(bucket.burst)))
            return keys.count
        }
        for request in batch {
            requestArgs.append(RedisArgument(Int64(index("ratelimit:{issue}:user:\(request.userID)", limits.perUser))))
            requestArgs.append(RedisArgument(Int64(index("ratelimit:{issue}:addr:\(request.address)", limits.perAddress))))
        }
        do {
            let reply = try await redis.run(LuaScripts.rateLimit, keys: keys.map { RedisArgument($0) }, args: args + requestArgs)
            guard let waits = reply.array?.compactMap(\.int), waits.count == batch.count else {
                throw RedisError(.protocolError, "rate-limit returned \(reply)")
            }
            for (request, wait) in zip(batch, waits) {
                if wait == 0 {
                    request.continuation.resume()
                } else {
                    request.continuation.resume(throwing: RateLimited(retryAfter: .milliseconds(wait)))
                }
            }
        } catch {
            for request in batch { request.continuation.resume(throwing: error) }
        }
    }
}
