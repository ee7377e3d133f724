import CommerceCore
import CommerceStore
import CouponGate
import Hummingbird
import RedisClient

/// `GET /metrics`: the Prometheus text format; no token needed.
struct MetricsController {
    let metrics: CommerceMetrics
    let counters: IssueCounters
    let redis: any RedisClient
    let outbox: any OutboxStore
    /// The outbox sinks, by their metric label.
    let sinks: [(label: String, cursorName: String)]

    func addRoutes(to router: some RouterMethods<CommerceRequestContext>) {
        router.get("/metrics") { _, _ in
            await updateOutboxBacklog()
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: metrics.render(coupons: counters, cluster: (redis as? RedisClusterClient)?.redirections))))
        }
    }

    /// The backlog is read from the store when scraped rather than tracked: the relays and the
    /// order routes would otherwise all have to keep one number right between them.
    private func updateOutboxBacklog() async {
        for sink in sinks {
            // Store down: the gauge keeps its last value and the error counters tell the story.
            guard let count = try? await outbox.backlog(sink: sink.cursorName) else { return }
            metrics.outboxBacklog(sink: sink.label, count)
        }
    }
}
