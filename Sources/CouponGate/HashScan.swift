import CommerceStore
import RedisClient
import Synchronization

/// A hash read with HSCAN, one batch of flat field/value replies per ``next()``: what the
/// coupon repair hands the store as it goes, so memory stays flat. HSCAN may return an entry
/// twice; the reader must not mind.
final class HashScan: Sendable {
    private let redis: any RedisClient
    private let key: String
    private let batchSize: Int
    /// The cursor to read from next (nil: done) and how many entries were read.
    private let state = Mutex<(cursor: String?, count: Int)>(("0", 0))

    init(redis: any RedisClient, key: String, batchSize: Int) {
        self.redis = redis
        self.key = key
        self.batchSize = batchSize
    }

    /// Entries read so far.
    var count: Int { state.withLock { $0.count } }

    /// The next batch, or nil once the scan is done.
    func next() async throws -> [RedisReply]? {
        guard let cursor = state.withLock({ $0.cursor }) else { return nil }
        let (next, flat) = try await redis.scanStep("HSCAN", .key(key), RedisArgument(cursor), "COUNT", RedisArgument(batchSize))
        state.withLock { $0 = (next == "0" ? nil : next, $0.count + flat.count / 2) }
        return flat
    }

    /// The next batch read as issuances (field: user id, value: issue time), or nil once done.
    func nextIssuances() async throws -> [Issuance]? {
        guard let flat = try await next() else { return nil }
        var batch: [Issuance] = []
        batch.reserveCapacity(flat.count / 2)
        for index in stride(from: 0, to: flat.count - 1, by: 2) {
            guard let user = flat[index].int, let issuedAt = flat[index + 1].int else { continue }
            batch.append(Issuance(userID: user, issuedAt: issuedAt))
        }
        return batch
    }
}
