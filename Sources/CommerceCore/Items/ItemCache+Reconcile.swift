import CommerceStore
import RedisClient

extension ItemCache {
    /// The reconcile job's cache step: every cached item and listing page compared with the
    /// store, and those that disagree dropped (their version moved on). Returns how many
    /// entries were (with `dryRun`: would be) dropped. Popular lists live half a second; they
    /// are left to expire.
    func dropStaleEntries(dryRun: Bool) async throws -> Int64 {
        var dropped: Int64 = 0
        // Item keys spread over every primary of a cluster: each lists its own.
        for primary in try await redis.primaries() {
            var cursor = "0"
            repeat {
                let (next, keys) = try await primary.scanStep("SCAN", RedisArgument(cursor), "MATCH", RedisArgument("\(Self.itemKeyPrefix)*"), "COUNT", "1000")
                cursor = next
                dropped += try await dropStale(keys, dryRun: dryRun)
            } while cursor != "0"
        }

        // Listing pages: each cached page compared with the page the store gives now.
        var stale: Int64 = 0
        var cursor = "0"
        repeat {
            let (next, flat) = try await redis.scanStep("HSCAN", .key(Self.pagesKey), RedisArgument(cursor), "COUNT", "1000")
            cursor = next
            for index in stride(from: 0, to: flat.count - 1, by: 2) {
                guard let field = flat[index].string, let (afterID, limit) = Self.pageField(field) else { continue }
                if flat[index + 1].bytes != (try await renderPage(afterID: afterID, limit: limit)) { stale += 1 }
            }
        } while cursor != "0"
        if stale > 0 {
            try await drop(Self.pagesKey, dryRun: dryRun)
            dropped += stale
        }
        return dropped
    }

    /// One SCAN batch of item keys: the cached values read concurrently (pipelined), the store
    /// once; returns how many disagreed (and were dropped unless `dryRun`).
    private func dropStale(_ keys: [RedisReply], dryRun: Bool) async throws -> Int64 {
        let itemIDs = keys.compactMap { $0.string.flatMap(Self.itemID(ofKey:)) }
        let cached = try await withThrowingTaskGroup(of: (Int64, [UInt8]?).self) { group in
            for itemID in itemIDs {
                group.addTask { [redis] in
                    (itemID, try await redis.send("HGET", .key(Self.itemKey(itemID)), "item").bytes)
                }
            }
            // A key holding only a version (nil) is left out: nothing to disagree with.
            return try await group.reduce(into: [Int64: [UInt8]]()) { $0[$1.0] = $1.1 }
        }
        let live = try await items.live(Array(cached.keys))
        var dropped: Int64 = 0
        for (itemID, value) in cached where value != live[itemID].map(Self.compact) {
            try await drop(Self.itemKey(itemID), dryRun: dryRun)
            dropped += 1
        }
        return dropped
    }

    private func drop(_ key: String, dryRun: Bool) async throws {
        guard !dryRun else { return }
        guard await invalidateNow(key) else {
            throw RedisError(.connectionFailed, "could not drop the cache entry \(key)")
        }
    }
}
