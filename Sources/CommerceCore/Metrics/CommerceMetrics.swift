import CommerceStore
import CouponGate
import CoreMetrics
import Metrics
import Prometheus
import RedisClient
import Synchronization

/// The service's metrics, all named `commerce_*`, recorded through swift-metrics into one
/// Prometheus registry per application (so tests running several apps keep them apart) and
/// rendered by `GET /metrics`.
public final class CommerceMetrics: Sendable {
    /// What `GET /metrics` renders.
    public let registry: PrometheusCollectorRegistry
    /// The swift-metrics factory over ``registry``, passed to each metric rather than bootstrapped
    /// process-wide, so each application (and each test) has its own.
    let factory: PrometheusMetricsFactory
    /// Handles by label and dimensions: the registry's own lookup (labels sorted, several
    /// dictionaries, a lock) cost more than the rest of a request's metrics together.
    private let counters = Mutex<[[String]: CoreMetrics.Counter]>([:])
    private let timers = Mutex<[[String]: CoreMetrics.Timer]>([:])
    private let requestHandles = Mutex<[RequestSeries: RequestHandles]>([:])
    /// The server's connections: the cap and the request deadlines count into it.
    public let connections = ConnectionCounts()
    /// `POST /coupons/issue` durations, finer than the Prometheus buckets, for the live board.
    let issueLatency = LatencyHistogram()

    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // From well under a millisecond (cached reads) to the 500 ms Redis timeout and beyond.
        factory.defaultDurationHistogramBuckets = [
            .microseconds(250), .microseconds(500), .milliseconds(1), .microseconds(2_500), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .milliseconds(500), .seconds(1), .microseconds(2_500_000), .seconds(5), .seconds(10),
        ]
        self.factory = factory
        // Written at 0 from the start, so an alert's increase() sees a first run's changes and
        // failures (a series born at its first value hides that value).
        for result in ["agreed", "disagreed", "failed"] { _ = counter("commerce_reconcile_runs_total", [("result", result)]) }
        for change in ReconcileReport().changes { _ = counter("commerce_reconcile_changes_total", [("kind", change.name)]) }
    }

    /// One HTTP request: `route` is the matched path template (`/orders/{order_id}`), so ids do
    /// not multiply the series.
    public func request(route: String, method: String, status: Int, duration: Duration) {
        let series = RequestSeries(route: route, method: method, status: status)
        let handles = requestHandles.withLock { $0[series] } ?? {
            let dimensions = [("route", route), ("method", method), ("status", String(status))]
            let handles = RequestHandles(
                count: counter("commerce_http_requests_total", dimensions),
                duration: timer("commerce_http_request_duration_seconds", dimensions),
                issueLatency: route == "/coupons/issue" && method == "POST" ? issueLatency : nil)
            requestHandles.withLock { $0[series] = handles }
            return handles
        }()
        handles.count.increment()
        handles.duration.record(duration: duration)
        handles.issueLatency?.record(duration)
    }

    /// What one series of requests records into; the board's latency only for issue requests.
    private struct RequestHandles {
        var count: CoreMetrics.Counter
        var duration: CoreMetrics.Timer
        var issueLatency: LatencyHistogram?
    }

    /// The series of one kind of request; its handles are looked up together, with one
    /// small key (every request pays for this).
    private struct RequestSeries: Hashable {
        var route: String
        var method: String
        var status: Int
    }

    /// How a `POST /orders` ended: `PAID` or the refusal's code.
    public func order(outcome: String) {
        counter("commerce_orders_total", [("outcome", outcome)]).increment()
    }

    /// A request that failed because a store (`redis`, or the database by its driver's name) could not be used.
    public func dependencyError(_ dependency: String) {
        counter("commerce_dependency_errors_total", [("dependency", dependency)]).increment()
    }

    /// Redis was found to have lost data (`detected`), or its data was repaired (`repaired`).
    func redisDataLoss(_ event: String) {
        counter("commerce_redis_data_loss_total", [("event", event)]).increment()
    }

    /// Paid orders the sink (`stream`, `ranking`) has not taken yet.
    public func outboxBacklog(sink: String, _ count: Int) {
        Gauge(label: "commerce_outbox_backlog", dimensions: [("sink", sink)], factory: factory).record(count)
    }

    /// One reconcile run (not dry runs): `agreed`, `disagreed` or `failed`, and what it changed.
    func reconcile(_ report: ReconcileReport?) {
        guard let report else {
            counter("commerce_reconcile_runs_total", [("result", "failed")]).increment()
            return
        }
        guard !report.dryRun else { return }
        counter("commerce_reconcile_runs_total", [("result", report.agreed ? "agreed" : "disagreed")]).increment()
        for (kind, count) in report.changes where count > 0 {
            counter("commerce_reconcile_changes_total", [("kind", kind)]).increment(by: count)
        }
        Gauge(label: "commerce_reconcile_last_duration_seconds", factory: factory).record(Double(report.durationMs) / 1000)
    }

    private func counter(_ label: String, _ dimensions: [(String, String)]) -> CoreMetrics.Counter {
        handle(counters, label, dimensions) { CoreMetrics.Counter(label: label, dimensions: dimensions, factory: factory) }
    }

    private func timer(_ label: String, _ dimensions: [(String, String)]) -> CoreMetrics.Timer {
        handle(timers, label, dimensions) { CoreMetrics.Timer(label: label, dimensions: dimensions, factory: factory) }
    }

    /// The cached handle, or a new one; two racing creators get handlers over the same series.
    private func handle<Handle: Sendable>(
        _ cache: borrowing Mutex<[[String]: Handle]>, _ label: String, _ dimensions: [(String, String)], make: () -> Handle
    ) -> Handle {
        var key = [label]
        for (name, value) in dimensions { key += [name, value] }
        if let handle = cache.withLock({ $0[key] }) { return handle }
        let handle = make()
        cache.withLock { $0[key] = handle }
        return handle
    }

    /// The Prometheus text format (version 0.0.4): the registry, then the coupon gate's own
    /// per-coupon counters (``IssueCounters``, which the admin view shows too) as
    /// `commerce_coupons_issued_total{coupon_id}` and
    /// `commerce_coupons_rejected_total{coupon_id,reason}`, then the connection counts, and on a
    /// Redis Cluster the redirections its client followed,
    /// `commerce_redis_cluster_redirections_total{kind="moved"|"ask"|"backoff"}`.
    public func render(coupons: IssueCounters, cluster: RedisClusterClient.Redirections? = nil) -> [UInt8] {
        var bytes: [UInt8] = []
        registry.emit(into: &bytes)
        var issued = "# TYPE commerce_coupons_issued_total counter\n"
        var rejected = "# TYPE commerce_coupons_rejected_total counter\n"
        for (couponID, counts) in coupons.all() {
            let id = couponID == IssueCounters.unknownCoupon ? "unknown" : String(couponID)
            for outcome in IssueCounters.Outcome.allCases {
                // Every outcome from a coupon's first request on, zeros too: an alert's rate()
                // then sees the first refusal, which a series born at 1 would hide.
                let count = counts[outcome] ?? 0
                guard count > 0 || couponID != IssueCounters.unknownCoupon else { continue }
                if outcome == .issued {
                    issued += "commerce_coupons_issued_total{coupon_id=\"\(id)\"} \(count)\n"
                } else {
                    rejected += "commerce_coupons_rejected_total{coupon_id=\"\(id)\",reason=\"\(outcome.rawValue)\"} \(count)\n"
                }
            }
        }
        var redirections = ""
        if let cluster {
            redirections = "# TYPE commerce_redis_cluster_redirections_total counter\n"
            for (kind, count) in [("moved", cluster.moved), ("ask", cluster.ask), ("backoff", cluster.backoffs)] {
                redirections += "commerce_redis_cluster_redirections_total{kind=\"\(kind)\"} \(count)\n"
            }
        }
        bytes += Array((issued + rejected + connections.rendered() + redirections).utf8)
        return bytes
    }
}
