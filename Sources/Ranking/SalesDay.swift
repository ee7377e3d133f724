import Foundation

/// A calendar day in the ranking's time zone: the unit in which sales are counted.
public struct SalesDay: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let year: Int
    public let month: Int
    public let day: Int

    public init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    /// The day `instant` falls on in `timeZone`: 16:30 UTC on the 21st is already the 22nd in Asia/Seoul.
    public init(_ instant: Date, in timeZone: TimeZone) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let parts = calendar.dateComponents([.year, .month, .day], from: instant)
        self.init(year: parts.year!, month: parts.month!, day: parts.day!)
    }

    /// The day `count` days later (earlier when negative).
    public func adding(days count: Int) -> SalesDay {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let noon = calendar.date(from: DateComponents(year: year, month: month, day: day, hour: 12))!
        return SalesDay(calendar.date(byAdding: .day, value: count, to: noon)!, in: calendar.timeZone)
    }

    /// Midnight at the start of the day in `timeZone`, in milliseconds since the epoch.
    public func start(in timeZone: TimeZone) -> Int64 {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let midnight = calendar.startOfDay(for: calendar.date(from: DateComponents(year: year, month: month, day: day, hour: 12))!)
        return Int64((midnight.timeIntervalSince1970 * 1000).rounded())
    }

    /// The day in `timeZone` as a half-open range of milliseconds since the epoch, midnight to
    /// midnight (23 or 25 hours on a daylight-saving change).
    public func milliseconds(in timeZone: TimeZone) -> Range<Int64> {
        start(in: timeZone)..<adding(days: 1).start(in: timeZone)
    }

    /// `YYYY-MM-DD`, as the contract writes days.
    public var description: String { String(format: "%04d-%02d-%02d", year, month, day) }

    /// `YYYYMMDD`, as the Redis keys write days.
    public var compact: String { String(format: "%04d%02d%02d", year, month, day) }

    public static func < (lhs: SalesDay, rhs: SalesDay) -> Bool {
        (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day)
    }
}
