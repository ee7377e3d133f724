import CommerceStore
import FlatJSON
import Foundation
import Logging
import LuaScripts
import RedisClient
import ServiceLifecycle
import ServiceTasks
import Synchronization

/// The read-through cache of items (`item:<id>`) and of what is made of several items — listing
/// pages and the popular list (fields of `items:pages`) — in Redis.
///
/// Each key is a versioned hash (`scripts/lua/cache-fill.lua`, `cache-invalidate.lua`): a reader
/// notes the version, reads the store, and its fill is refused if an invalidation came in between,
/// so a slow reader cannot put back a stock older than an order. Writers invalidate after their
/// commit and before they answer, which is what makes stock exact once a 201 was sent.
///
/// Redis away: reads go to the store. An invalidation that fails is retried (this is the
/// `Service` part) and, until it succeeds, this process reads those keys from the store.
public final class ItemCache: Service, Sendable {
    let redis: any RedisClient
    let items: any ItemStore
    private let logger: Logger
    /// Stamps values that expire by age (milliseconds since the epoch): the real clock, since
    /// their age is measured across processes.
    private let wallClock: @Sendable () -> Int64
    /// How long a cache hash (and so its version) lives after its last fill or invalidation.
    private let lifetime: Duration
    /// A reader slower than this does not fill: far below ``lifetime``, so a version that expired
    /// and started again cannot be mistaken for the one the reader saw.
    private let fillDeadline: Duration
    private let retryInterval: Duration
    /// Keys whose invalidation failed and is still to be retried, each with a count of the
    /// failures: a retry that succeeded only clears a key no newer failure came in for meanwhile.
    private let unsure = Mutex<[String: Int]>([:])
    /// Callers waiting for the next invalidation of a key (present while a call for it runs).
    private let invalidations = Turns<String, CheckedContinuation<InvalidationTurn, Never>>()
    /// Loads in flight, by key, field and the version their readers saw, with the readers
    /// waiting for each.
    private let loads = Turns<String, CheckedContinuation<LoadTurn, Never>>()

    static let pagesKey = "items:pages"
    static let itemKeyPrefix = "item:"
    static func itemKey(_ itemID: Int64) -> String { "\(itemKeyPrefix)\(itemID)" }
    /// The item id of a key written by ``itemKey(_:)``; nil for other keys.
    static func itemID(ofKey key: String) -> Int64? {
        key.hasPrefix(itemKeyPrefix) ? Int64(key.dropFirst(itemKeyPrefix.count)) : nil
    }

    init(
        redis: any RedisClient, items: any ItemStore, logger: Logger,
        wallClock: @escaping @Sendable () -> Int64 = Timestamp.now,
        lifetime: Duration = .seconds(600), fillDeadline: Duration = .seconds(1), retryInterval: Duration = .milliseconds(250)
    ) {
        self.redis = redis
        self.items = items
        self.logger = logger
        self.wallClock = wallClock
        self.lifetime = lifetime
        self.fillDeadline = fillDeadline
        self.retryInterval = retryInterval
    }

    /// The live item with this id, or nil.
    public func item(_ itemID: Int64) async throws -> Item? {
        let cached = try await readThrough(Self.itemKey(itemID), field: "item") { [items] in
            try await items.item(itemID).map(Self.compact)
        }
        return cached.flatMap { Self.item(itemID, compact: $0) }
    }

    /// The `GET /items` response body for the page after `afterID`.
    public func page(afterID: Int64, limit: Int) async throws -> [UInt8] {
        try await readThrough(Self.pagesKey, field: "\(afterID):\(limit)") {
            try await self.renderPage(afterID: afterID, limit: limit)
        } ?? []
    }

    /// The `GET /items` body for the page after `afterID`, from the store.
    func renderPage(afterID: Int64, limit: Int) async throws -> [UInt8] {
        JSONWriter.encode(ItemPage(rows: try await items.page(afterID: afterID, limit: limit + 1), limit: limit))
    }

    /// The cursor and limit of a page's field in ``pagesKey``; nil for other fields.
    static func pageField(_ field: String) -> (afterID: Int64, limit: Int)? {
        let parts = field.split(separator: ":")
        guard parts.count == 2, let afterID = Int64(parts[0]), let limit = Int(parts[1]) else { return nil }
        return (afterID, limit)
    }

    /// Drops the cached items, pages and popular lists. Call after the change committed and
    /// before answering; a failure is retried in the background, and this process reads around
    /// the cache until it succeeds.
    public func invalidate(itemIDs: some Sequence<Int64>) async {
        let keys = itemIDs.map(Self.itemKey) + [Self.pagesKey]
        let failed = await withTaskGroup(of: String?.self) { group in
            for key in keys { group.addTask { await self.invalidateShared(key) ? nil : key } }
            var failed: [String] = []
            for await key in group { if let key { failed.append(key) } }
            return failed
        }
        guard !failed.isEmpty else { return }
        let wasEmpty = unsure.withLock { unsure in
            defer { for key in failed { unsure[key, default: 0] += 1 } }
            return unsure.isEmpty
        }
        if wasEmpty {
            logger.warning("item cache: cannot invalidate; reading these keys from the store until Redis takes it",
                           metadata: ["keys": "\(failed)"])
        }
    }

    /// Retries the invalidations Redis could not take, until shutdown.
    public func run() async throws {
        await repeatUntilShutdown(every: retryInterval) { await retryInvalidations() }
    }

    private func retryInvalidations() async {
        let keys = unsure.withLock { $0 }
        guard !keys.isEmpty else { return }
        var done: [String: Int] = [:]
        for (key, failures) in keys {
            guard await invalidateNow(key) else { break }  // Redis still away: next round
            done[key] = failures
        }
        let left = unsure.withLock { unsure in
            for (key, failures) in done where unsure[key] == failures { unsure[key] = nil }
            return unsure.count
        }
        if left == 0 { logger.notice("item cache: invalidations caught up, reading through Redis again") }
    }

    /// Invalidates `key` for a caller whose change has committed, sharing one Redis call with
    /// the callers that arrive while a call for the key is under way: they are all served by the
    /// next call, which starts after each of them arrived and so after each of their commits.
    /// Under load every order invalidates the listing pages: this makes that one call per round
    /// trip instead of one per order. Returns false when Redis did not take it.
    ///
    /// No task of its own: the caller that finds no call under way makes one; when it is done,
    /// the oldest caller that arrived meanwhile makes the next one, for all who were waiting.
    private func invalidateShared(_ key: String) async -> Bool {
        switch await invalidations.turn(key, lead: .call(for: []), waiter: { $0 }) {
        case .done(let taken):
            return taken
        case .call(let others):
            let taken = await invalidateNow(key)
            for other in others { other.resume(returning: .done(taken)) }
            let next = invalidations.handOver(key, upTo: .max)
            next.first?.resume(returning: .call(for: Array(next.dropFirst())))
            return taken
        }
    }

    /// A caller's part in a shared invalidation: making the call (for itself and `others`), or
    /// hearing whether Redis took it.
    private enum InvalidationTurn: Sendable {
        case call(for: [CheckedContinuation<InvalidationTurn, Never>])
        case done(Bool)
    }

    /// Invalidates one key now; false when Redis did not take it.
    func invalidateNow(_ key: String) async -> Bool {
        (try? await redis.run(LuaScripts.cacheInvalidate, keys: [key],
                              args: [RedisArgument(milliseconds: lifetime)])) != nil
    }

    /// The cached value of `field` in `key`, or what `load` reads (then cached, unless the key's
    /// version moved on meanwhile). nil when `load` finds nothing (not cached). With `maxAge`, a
    /// value older than that (stamped with the filler's clock) counts as missing.
    func readThrough(
        _ key: String, field: String, maxAge: Duration? = nil, load: @escaping @Sendable () async throws -> [UInt8]?
    ) async throws -> [UInt8]? {
        guard unsure.withLock({ $0[key] == nil }) else { return try await load() }
        let reply: RedisReply
        do {
            reply = try await redis.send(RedisCommand("HMGET", .key(key), "v", RedisArgument(field)), requiringTrustedData: true)
        } catch is RedisError {
            return try await load()  // Redis away or its data not trusted (lost, being repaired): the store is the truth anyway
        }
        let parts = reply.array ?? []
        if parts.count == 2, let cached = parts[1].bytes {
            guard let maxAge else { return cached }
            if let fresh = unstamped(cached, maxAge: maxAge) { return fresh }
        }
        let version = parts.first?.string ?? ""
        // Readers that missed at the same version share one load: a popular list expiring under
        // load is then read once, not once per waiting request. Sharing is exact: whoever saw
        // this version looked after every invalidation that produced it, so the shared load,
        // which starts after such a look, includes every change acknowledged before any of them.
        // The first reader loads and hands the result to those who joined meanwhile.
        let flight = "\(key)\u{0}\(field)\u{0}\(version)"
        if case .loaded(let result) = await loads.turn(flight, lead: .lead, waiter: { $0 }) { return try result.get() }
        let result: Result<[UInt8]?, any Error>
        do {
            result = .success(try await loadAndFill(key, field: field, version: version, stamped: maxAge != nil, load: load))
        } catch {
            result = .failure(error)
        }
        for follower in loads.end(flight) { follower.resume(returning: .loaded(result)) }
        return try result.get()
    }

    /// A reader's part in a shared load: doing it, or receiving its result.
    private enum LoadTurn: Sendable {
        case lead
        case loaded(Result<[UInt8]?, any Error>)
    }

    private func loadAndFill(
        _ key: String, field: String, version: String, stamped: Bool, load: @Sendable () async throws -> [UInt8]?
    ) async throws -> [UInt8]? {
        let started = ContinuousClock.now
        guard let value = try await load() else { return nil }
        if ContinuousClock.now - started < fillDeadline {
            let stored = stamped ? Array("\(wallClock()) ".utf8) + value : value
            _ = try? await redis.run(LuaScripts.cacheFill, keys: [key], args: [
                RedisArgument(version), RedisArgument(field), RedisArgument(bytes: stored), RedisArgument(milliseconds: lifetime),
            ], requiringTrustedData: true)
        }
        return value
    }

    /// The value after its `<ms> ` stamp, if the stamp is at most `maxAge` old.
    private func unstamped(_ stamped: [UInt8], maxAge: Duration) -> [UInt8]? {
        guard let space = stamped.firstIndex(of: UInt8(ascii: " ")),
              let filledAt = Int64(String(decoding: stamped[..<space], as: UTF8.self)) else { return nil }
        let age = wallClock() - filledAt
        guard age >= 0, Duration.milliseconds(age) <= maxAge else { return nil }
        return Array(stamped[(space + 1)...])
    }

    /// An item as cached: `price stock name` (the name may hold spaces; it comes last).
    static func compact(_ item: Item) -> [UInt8] {
        Array("\(item.price) \(item.stock) \(item.name)".utf8)
    }

    private static func item(_ itemID: Int64, compact: [UInt8]) -> Item? {
        let parts = compact.split(separator: UInt8(ascii: " "), maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3,
              let price = Int64(String(decoding: parts[0], as: UTF8.self)),
              let stock = Int64(String(decoding: parts[1], as: UTF8.self)) else { return nil }
        return Item(itemID: itemID, name: String(decoding: parts[2], as: UTF8.self), price: price, stock: stock)
    }
}
