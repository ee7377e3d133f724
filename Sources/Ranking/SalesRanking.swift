import CommerceStore
import Foundation
import LuaScripts
import RedisClient

/// The sales ranking in Redis: per-day sorted sets of units sold, in the configured time zone.
///
/// Orders come in as an ``OutboxSink``: the outbox relay hands over every committed order once
/// or more, and each is counted once, on the day it was placed (`scripts/lua/rank-record.lua`).
/// ``rebuild(_:from:dryRun:)`` recomputes a day from the store after Redis lost or skewed it.
public struct SalesRanking: OutboxSink {
    private let redis: any RedisClient
    /// The zone whose calendar days are counted.
    public let timeZone: TimeZone
    /// How long a window's union is kept before it is computed again (it is also dropped
    /// whenever one of its days changes).
    private let unionLifetime: Duration

    public init(redis: any RedisClient, timeZone: TimeZone, unionLifetime: Duration = .seconds(5)) {
        self.redis = redis
        self.timeZone = timeZone
        self.unionLifetime = unionLifetime
    }

    public var cursorName: String { "rank:{sales}" }

    public func deliver(_ entries: [OutboxEntry], after cursor: Int64) async throws -> Int64? {
        // Days in the order they first appear; each day's orders keep their ascending positions.
        var days: [SalesDay] = []
        var entriesByDay: [SalesDay: [OutboxEntry]] = [:]
        for entry in entries {
            let day = SalesDay(entry.order.orderedAt.date, in: timeZone)
            if entriesByDay[day] == nil { days.append(day) }
            entriesByDay[day, default: []].append(entry)
        }
        for day in days {
            var args = [RedisArgument(expiry(of: day))]
            for entry in entriesByDay[day]! {
                let order = entry.order
                args.append(RedisArgument(entry.position))
                args.append(RedisArgument(order.items.count))
                for line in order.items {
                    args.append(RedisArgument(RankingKeys.member(line.itemID)))
                    args.append(RedisArgument(line.quantity))
                }
            }
            try await redis.run(LuaScripts.rankRecord, keys: dayKeys(day), args: args, requiringTrustedData: true)
        }
        return nil
    }

    /// The `count` best sellers of `window` by units, most first, ties by smaller item id;
    /// deleted items included (the caller knows which items still exist).
    public func bestSellers(in window: SalesWindow, count: Int) async throws -> [ItemUnits] {
        let keys = [RankingKeys.window(endingOn: window.to)] + window.allDays.map(RankingKeys.unitsSold(on:))
        // Not from data Redis lost (it is being repaired): the caller asks the store instead.
        let reply = try await redis.run(LuaScripts.rankTop, keys: keys,
                                        args: [RedisArgument(count), RedisArgument(milliseconds: unionLifetime)], requiringTrustedData: true)
        guard let elements = reply.array, elements.count % 2 == 0 else {
            throw RedisError(.protocolError, "rank-top.lua returned \(reply)")
        }
        var ranked: [ItemUnits] = []
        for index in stride(from: 0, to: elements.count, by: 2) {
            guard let itemID = elements[index].string.flatMap(RankingKeys.itemID),
                  let units = elements[index + 1].string.flatMap(Double.init) else {
                throw RedisError(.protocolError, "rank-top.lua returned \(elements[index]) \(elements[index + 1])")
            }
            ranked.append(.init(itemID: itemID, units: Int64(units)))
        }
        ranked.sort { ($0.units, -$0.itemID) > ($1.units, -$1.itemID) }
        return Array(ranked.prefix(count))
    }

    /// Makes `day`'s set equal the sums over the paid orders placed that day in the store;
    /// returns true when it had to change it. Safe while the relay is counting new orders. With
    /// `dryRun`, changes nothing and returns whether it would.
    @discardableResult
    public func rebuild(_ day: SalesDay, from sales: any SalesStore, dryRun: Bool = false) async throws -> Bool {
        let range = day.milliseconds(in: timeZone)
        // The relay may count an order newer than the snapshot between the read and the script;
        // the script then refuses and a fresh snapshot includes that order.
        for _ in 0..<10 {
            let (sums, lastPosition) = try await sales.unitsSold(placedIn: range)
            var args = [RedisArgument(expiry(of: day)), RedisArgument(lastPosition), dryRun ? "check" : "apply"]
            args.reserveCapacity(3 + sums.count * 2)
            for sum in sums {
                args.append(RedisArgument(RankingKeys.member(sum.itemID)))
                args.append(RedisArgument(sum.units))
            }
            let reply = try await redis.run(LuaScripts.rankRebuild, keys: dayKeys(day), args: args)
            switch reply.int.flatMap(RebuildResult.init(rawValue:)) {
            case .unchanged?: return false
            case .rewritten?: return true
            case .snapshotTooOld?: continue
            case nil: throw RedisError(.protocolError, "rank-rebuild.lua returned \(reply)")
            }
        }
        throw RebuildContended(day: day)
    }

    /// The day set, its watermark and the windows that contain the day.
    private func dayKeys(_ day: SalesDay) -> [String] {
        [RankingKeys.unitsSold(on: day), RankingKeys.applied(on: day)] + RankingKeys.windows(containing: day)
    }

    /// A few days after the day has left every window (unix seconds).
    private func expiry(of day: SalesDay) -> Int64 {
        day.adding(days: SalesWindow.days + 3).start(in: timeZone) / 1000
    }
}

/// What `rank-rebuild.lua` did with a snapshot of a day's sums.
private enum RebuildResult: Int64 {
    /// The relay already counted an order newer than the snapshot: take a fresh one.
    case snapshotTooOld = -1
    case unchanged = 0
    /// Rewritten (or, with `check`, would be).
    case rewritten = 1
}

/// The relay kept counting newer orders into a day faster than it could be rebuilt; try later.
public struct RebuildContended: Error, CustomStringConvertible {
    public let day: SalesDay
    public var description: String { "the ranking of \(day) kept changing while it was rebuilt" }
}
