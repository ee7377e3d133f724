import Foundation

/// The days the popular list counts: the day it is now in the ranking's time zone and the two
/// before it.
public struct SalesWindow: Sendable, Hashable {
    /// How many calendar days a window spans.
    public static let days = 3

    /// The last day (today).
    public let to: SalesDay
    public let timeZone: TimeZone

    /// The window ending on the day `instant` falls on in `timeZone`.
    public init(endingAt instant: Date, in timeZone: TimeZone) {
        self.to = SalesDay(instant, in: timeZone)
        self.timeZone = timeZone
    }

    /// The first day.
    public var from: SalesDay { to.adding(days: 1 - Self.days) }

    /// Every day of the window, oldest first.
    public var allDays: [SalesDay] { (0..<Self.days).map { from.adding(days: $0) } }

    /// The window as a half-open range of milliseconds since the epoch: midnight at the start of
    /// `from` to midnight at the end of `to`, in the window's time zone (23 or 25 hours on a
    /// daylight-saving change).
    public var milliseconds: Range<Int64> {
        from.start(in: timeZone)..<to.milliseconds(in: timeZone).upperBound
    }
}
