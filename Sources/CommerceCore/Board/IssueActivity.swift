import CouponGate
import Synchronization
import ServiceLifecycle
import ServiceTasks

/// What the live board shows of this process's coupon traffic: issue outcomes per second by
/// coupon and reason, and the latency of `POST /coupons/issue`, over the last ``window``. A
/// sample of the counters is kept every second; a reading compares the counters now with the
/// sample about a window old, so it is as fresh as the request that asks.
public final class IssueActivity: Service, Sendable {
    static let window: Duration = .seconds(3)

    private let counters: IssueCounters
    private let latency: LatencyHistogram
    private let samples = Mutex<[Sample]>([])

    private struct Sample {
        var at: ContinuousClock.Instant
        var counts: [Int64: [IssueCounters.Outcome: Int64]]
        var latency: [Int64]
    }

    init(counters: IssueCounters, latency: LatencyHistogram) {
        self.counters = counters
        self.latency = latency
    }

    public func run() async throws {
        takeSample()
        await repeatUntilShutdown(every: .seconds(1)) { takeSample() }
    }

    private func takeSample() {
        let sample = current()
        samples.withLock { samples in
            samples.append(sample)
            // Enough to reach back a whole window from any moment.
            samples.removeAll { sample.at - $0.at > Self.window + .seconds(2) }
        }
    }

    private func current() -> Sample {
        Sample(at: .now, counts: Dictionary(uniqueKeysWithValues: counters.all().map { ($0.couponID, $0.counts) }),
               latency: latency.snapshot())
    }

    /// Per second over the last window (or since the first sample, early on), and in total.
    public struct Reading: Sendable {
        /// Outcomes per second by coupon (those with none in the window are absent).
        public var perSecond: [Int64: [IssueCounters.Outcome: Double]]
        /// Outcomes so far by coupon (those never asked for are absent).
        public var totals: [Int64: [IssueCounters.Outcome: Int64]]
        /// Median and 99th percentile of `POST /coupons/issue`, seconds; nil without requests.
        public var p50: Double?
        public var p99: Double?
        public var seconds: Double
    }

    public func reading() -> Reading {
        let now = current()
        let base = samples.withLock { samples in
            samples.last { now.at - $0.at >= Self.window } ?? samples.first
        } ?? now
        let elapsed = now.at - base.at
        let seconds = max(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18, 0.001)
        var perSecond: [Int64: [IssueCounters.Outcome: Double]] = [:]
        for (couponID, counts) in now.counts {
            let before = base.counts[couponID] ?? [:]
            for (outcome, count) in counts where count > (before[outcome] ?? 0) {
                perSecond[couponID, default: [:]][outcome] = Double(count - (before[outcome] ?? 0)) / seconds
            }
        }
        return Reading(perSecond: perSecond, totals: now.counts,
                       p50: LatencyHistogram.quantile(0.5, from: base.latency, to: now.latency),
                       p99: LatencyHistogram.quantile(0.99, from: base.latency, to: now.latency),
                       seconds: seconds)
    }
}
