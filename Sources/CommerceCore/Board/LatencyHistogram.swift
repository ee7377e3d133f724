import Foundation
import Synchronization

/// Durations counted in buckets 20% apart (50 µs to about 30 s), cheap to record on every
/// request, from which the board reads quantiles over its last few seconds. The Prometheus
/// histogram's buckets (a factor 2–2.5 apart) are too coarse to tell 1.2 ms from 2 ms.
public final class LatencyHistogram: Sendable {
    static let smallest = 0.000_05
    static let growth = 1.2
    static let bucketCount = 74

    private let counts = Mutex<[Int64]>(Array(repeating: 0, count: LatencyHistogram.bucketCount))

    func record(_ duration: Duration) {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        let index = seconds <= Self.smallest ? 0 : min(Self.bucketCount - 1, Int(log(seconds / Self.smallest) / log(Self.growth)) + 1)
        counts.withLock { $0[index] += 1 }
    }

    /// The counts so far, per bucket.
    func snapshot() -> [Int64] { counts.withLock { $0 } }

    /// The upper bound of bucket `index`, in seconds.
    static func upperBound(_ index: Int) -> Double { smallest * pow(growth, Double(index)) }

    /// The `q` quantile (0...1) of the durations counted between `earlier` and `later` (two
    /// snapshots), in seconds, interpolated within its bucket; nil when none were.
    static func quantile(_ q: Double, from earlier: [Int64], to later: [Int64]) -> Double? {
        let counts = zip(later, earlier).map { $0 - $1 }
        let total = counts.reduce(0, +)
        guard total > 0 else { return nil }
        let rank = q * Double(total)
        var below: Int64 = 0
        for (index, count) in counts.enumerated() where count > 0 {
            if Double(below + count) >= rank {
                let lower = index == 0 ? 0 : upperBound(index - 1)
                let fraction = (rank - Double(below)) / Double(count)
                return lower + (upperBound(index) - lower) * max(0, min(1, fraction))
            }
            below += count
        }
        return upperBound(bucketCount - 1)
    }
}
