import Foundation
import Testing
@testable import Ranking

@Suite struct SalesDayTests {
    let instant = ISO8601DateFormatter().date(from: "2026-11-21T16:30:00Z")!

    @Test func theSameInstantIsADifferentDayInSeoulAndUTC() {
        #expect(SalesDay(instant, in: TimeZone(identifier: "UTC")!).description == "2026-11-21")
        #expect(SalesDay(instant, in: TimeZone(identifier: "Asia/Seoul")!).description == "2026-11-22")
    }

    @Test func addingDaysCrossesMonthsAndYears() {
        let newYear = SalesDay(year: 2027, month: 1, day: 1)
        #expect(newYear.adding(days: -1) == SalesDay(year: 2026, month: 12, day: 31))
        #expect(newYear.adding(days: -2).description == "2026-12-30")
        #expect(SalesDay(year: 2028, month: 2, day: 28).adding(days: 1).description == "2028-02-29")
        #expect(newYear.adding(days: -1) < newYear)
    }

    @Test func keysShareOneClusterSlotTag() {
        let day = SalesDay(year: 2026, month: 11, day: 22)
        #expect(RankingKeys.unitsSold(on: day) == "rank:{sales}:20261122")
        #expect(RankingKeys.window(endingOn: day) == "rank:{sales}:top3:20261122")
    }
}

@Suite struct SalesWindowTests {
    @Test func aWindowIsTodayAndTheTwoDaysBeforeFromMidnightToMidnightInItsZone() {
        let seoul = TimeZone(identifier: "Asia/Seoul")!
        let instant = ISO8601DateFormatter().date(from: "2026-11-21T16:30:00Z")!  // 01:30 on the 22nd in Seoul
        let window = SalesWindow(endingAt: instant, in: seoul)
        #expect(window.from.description == "2026-11-20")
        #expect(window.to.description == "2026-11-22")
        #expect(window.allDays.map(\.description) == ["2026-11-20", "2026-11-21", "2026-11-22"])
        let start = ISO8601DateFormatter().date(from: "2026-11-19T15:00:00Z")!  // midnight of the 20th in Seoul
        #expect(window.milliseconds.lowerBound == Int64(start.timeIntervalSince1970 * 1000))
        #expect(window.milliseconds.count == 3 * 86_400_000)
    }

    @Test func membersSortAsNumbersWhenRedisSortsThemAsBytes() {
        #expect(RankingKeys.member(9) < RankingKeys.member(10))
        #expect(RankingKeys.member(9).count == 19)
        #expect(RankingKeys.member(Int64.max) == String(Int64.max))
        #expect(RankingKeys.itemID(RankingKeys.member(42)) == 42)
        #expect(RankingKeys.applied(on: SalesDay(year: 2026, month: 11, day: 22)) == "rank:{sales}:20261122:applied")
    }
}
