import Foundation
import Logging
import ServiceLifecycle

/// Runs the reconcile job every day at a set local time (in the ranking's time zone) inside
/// `serve`. With several servers, each tries and the lock lets one run; the others log that.
public struct NightlyReconcile: Service {
    let reconciler: Reconciler
    let time: ReconcileTime
    let timeZone: TimeZone
    let logger: Logger

    public init(reconciler: Reconciler, time: ReconcileTime, timeZone: TimeZone, logger: Logger) {
        self.reconciler = reconciler
        self.time = time
        self.timeZone = timeZone
        self.logger = logger
    }

    public func run() async throws {
        while let wait = secondsUntilNextRun(from: Date()) {
            logger.info("reconcile: next nightly run", metadata: ["in_seconds": "\(Int(wait))", "at": "\(time)", "time_zone": "\(timeZone.identifier)"])
            guard (try? await cancelWhenGracefulShutdown({ try await Task.sleep(for: .seconds(wait)) })) != nil else { return }
            do {
                _ = try await reconciler.run(dryRun: false)
            } catch is ReconcileRunning {
                logger.info("reconcile: another process is running tonight's reconcile")
            } catch {
                logger.error("reconcile: the nightly run failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Seconds from `now` to the next `time` in `timeZone` (at least one, so a run never repeats
    /// within the same minute).
    func secondsUntilNextRun(from now: Date) -> Double? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        guard let next = calendar.nextDate(after: now.addingTimeInterval(1), matching: DateComponents(hour: time.hour, minute: time.minute),
                                           matchingPolicy: .nextTime) else { return nil }
        return max(1, next.timeIntervalSince(now))
    }
}

/// A time of day, `HH:MM` (24-hour).
public struct ReconcileTime: Sendable, Hashable, CustomStringConvertible {
    public let hour: Int
    public let minute: Int

    /// Parses `HH:MM`; nil for anything else.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ $0.count == 2 }), let hour = Int(parts[0]), let minute = Int(parts[1]),
              (0...23).contains(hour), (0...59).contains(minute) else { return nil }
        self.hour = hour
        self.minute = minute
    }

    public var description: String { String(format: "%02d:%02d", hour, minute) }
}
