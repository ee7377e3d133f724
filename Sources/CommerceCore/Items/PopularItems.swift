import CommerceStore
import FlatJSON
import Foundation
import Ranking
import RedisClient
import Synchronization

/// `GET /items/popular`: the top 5 of the sales window, with each item's current details.
///
/// The answer is computed from the ranking in Redis and the items in the store, and cached for
/// half a second as one value beside the listing pages (one Redis read per request, and dropped
/// with them by any order, so stock is as exact as on `GET /items`). Redis away: the same answer
/// computed by the store alone.
public final class PopularItems: Sendable {
    static let size = 5

    /// An item with its place: `Item` plus `{"rank", "sold"}`.
    struct Entry: JSONWritable, Sendable {
        var item: Item
        var rank: Int64
        var sold: Int64

        func write(to json: inout JSONWriter) {
            json.object {
                item.writeFields(to: &$0)
                $0.field("rank", rank)
                $0.field("sold", sold)
            }
        }
    }

    /// One answer: `{"window_days", "from", "to", "items"}`.
    struct Answer: JSONWritable, Sendable {
        var window: SalesWindow
        var items: [Entry]

        init(window: SalesWindow, ranked: [(item: Item, units: Int64)]) {
            self.window = window
            self.items = ranked.enumerated().map { Entry(item: $1.item, rank: Int64($0 + 1), sold: $1.units) }
        }

        func write(to json: inout JSONWriter) {
            json.object {
                $0.field("window_days", Int64(SalesWindow.days))
                $0.field("from", window.from.description)
                $0.field("to", window.to.description)
                $0.field("items", items)
            }
        }
    }

    private let ranking: SalesRanking
    private let itemCache: ItemCache
    private let items: any ItemStore
    private let sales: any SalesStore
    /// How long an answer is reused from the cache (it is dropped sooner by any change to an
    /// item or any order): with the relay's delay, well within "an order counts within 1 s".
    private let answerLifetime: Duration
    /// The window of the current day, with its cache field and the day's milliseconds.
    private let today = Mutex<(window: SalesWindow, field: String, day: Range<Int64>)?>(nil)

    init(ranking: SalesRanking, itemCache: ItemCache, items: any ItemStore, sales: any SalesStore,
         answerLifetime: Duration = .milliseconds(500)) {
        self.ranking = ranking
        self.itemCache = itemCache
        self.items = items
        self.sales = sales
        self.answerLifetime = answerLifetime
    }

    /// The answer's JSON for the window ending on the day of `now` (ms since the epoch): cached
    /// beside the listing pages, so that any order or item change drops it and stock is exact.
    public func answer(at now: Int64) async throws -> [UInt8] {
        let (window, field) = self.window(at: now)
        return try await itemCache.readThrough(ItemCache.pagesKey, field: field, maxAge: answerLifetime) {
            JSONWriter.encode(Answer(window: window, ranked: try await self.compute(window)))
        } ?? []
    }

    /// The window ending today and its cache field. Calendar arithmetic costs more than the
    /// rest of a cached answer, so the window is worked out once per day.
    private func window(at now: Int64) -> (SalesWindow, String) {
        if let known = today.withLock({ $0 }), known.day.contains(now) { return (known.window, known.field) }
        let window = SalesWindow(endingAt: Timestamp(milliseconds: now).date, in: ranking.timeZone)
        let field = "popular:\(ranking.timeZone.identifier):\(window.to.compact)"
        let day = window.to.milliseconds(in: ranking.timeZone)
        today.withLock { $0 = (window, field, day) }
        return (window, field)
    }

    /// From Redis (ranking) and the store (items); Redis away or its data not trusted: from the
    /// store alone.
    private func compute(_ window: SalesWindow) async throws -> [(item: Item, units: Int64)] {
        let fromStore = { try await self.sales.bestSellers(placedIn: window.milliseconds, limit: Self.size) }
        do {
            return try await fromRedis(window)
        } catch is RedisError {
            return try await fromStore()
        }
    }

    /// The ranking from Redis, the items from the store (not from the item cache: the answer is
    /// cached under the listing pages' version, and an order invalidates the pages and its items
    /// concurrently, so an answer built from cached items could hold a stock the pages'
    /// invalidation was meant to drop). Deleted items are skipped and the next ones move up:
    /// when more than a few of the best sellers were deleted, ask for a longer ranking.
    private func fromRedis(_ window: SalesWindow) async throws -> [(item: Item, units: Int64)] {
        var count = Self.size * 2
        while true {
            let ranked = try await ranking.bestSellers(in: window, count: count)
            let ids = ranked.map(\.itemID)
            let live = try await items.live(ids)
            let chosen = ranked.compactMap { entry in live[entry.itemID].map { (item: $0, units: entry.units) } }
            if chosen.count >= Self.size || ranked.count < count { return Array(chosen.prefix(Self.size)) }
            count *= 2
        }
    }
}
