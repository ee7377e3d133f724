import CommerceStore
import Foundation
import Ranking
import RedisClient
import Synchronization

/// `GET /items/popular`: the top 5 of the sales window, with each item's current details.
///
/// The ranking (ids and units) comes from Redis and is kept here for a moment, which is what
/// makes the route cheap; the details come from the item cache on every request, so stock is as
/// exact as on `GET /items/{id}`. Redis away: the same answer computed by SQLite.
final class PopularItems: Sendable {
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

    private struct Remembered {
        var window: SalesWindow
        var count: Int
        var ranked: [SalesLedger.ItemUnits]
        var until: ContinuousClock.Instant
    }

    private let ranking: SalesRanking
    private let itemCache: ItemCache
    private let database: CommerceDatabase
    /// How long a ranking read from Redis is reused: with the relay's delay, well within the
    /// contract's "an order counts within 1 s".
    private let rankingLifetime: Duration
    private let remembered = Mutex<Remembered?>(nil)

    init(ranking: SalesRanking, itemCache: ItemCache, database: CommerceDatabase, rankingLifetime: Duration = .milliseconds(500)) {
        self.ranking = ranking
        self.itemCache = itemCache
        self.database = database
        self.rankingLifetime = rankingLifetime
    }

    /// The answer for the window ending on the day of `now` (ms since the epoch).
    func answer(at now: Int64) async throws -> Answer {
        let window = SalesWindow(endingAt: Timestamp(milliseconds: now).date, in: ranking.timeZone)
        do {
            return Answer(window: window, ranked: try await fromRedis(window))
        } catch is RedisError {
            let range = window.milliseconds
            let items = try await database.read { try SalesLedger.bestSellers($0, placedIn: range, limit: Self.size) }
            return Answer(window: window, ranked: items)
        }
    }

    /// Deleted items are skipped and the next ones move up: when more than a few of the best
    /// sellers were deleted, ask for a longer ranking.
    private func fromRedis(_ window: SalesWindow) async throws -> [(item: Item, units: Int64)] {
        var count = Self.size * 2
        while true {
            let ranked = try await rankedByRedis(window, count: count)
            var chosen: [(item: Item, units: Int64)] = []
            var next = 0
            while chosen.count < Self.size && next < ranked.count {
                let candidates = ranked[next..<min(ranked.count, next + Self.size - chosen.count)]
                let details = try await itemCache.items(candidates.map(\.itemID))
                for candidate in candidates {
                    if let item = details[candidate.itemID] { chosen.append((item, candidate.units)) }
                }
                next = candidates.endIndex
            }
            if chosen.count == Self.size || ranked.count < count { return chosen }
            count *= 2
        }
    }

    private func rankedByRedis(_ window: SalesWindow, count: Int) async throws -> [SalesLedger.ItemUnits] {
        let now = ContinuousClock.now
        if let known = remembered.withLock({ $0 }), known.window == window, known.count == count, now < known.until {
            return known.ranked
        }
        let ranked = try await ranking.bestSellers(in: window, count: count)
        remembered.withLock { $0 = Remembered(window: window, count: count, ranked: ranked, until: now + rankingLifetime) }
        return ranked
    }
}
