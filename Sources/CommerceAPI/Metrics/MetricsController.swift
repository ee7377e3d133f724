import CommerceStore
import Hummingbird

/// `GET /metrics`: the Prometheus text format; no token needed.
struct MetricsController {
    let dependencies: AppDependencies

    func addRoutes(to router: some RouterMethods<CommerceRequestContext>) {
        router.get("/metrics") { _, _ in
            await updateOutboxBacklog()
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: dependencies.metrics.render(coupons: dependencies.coupons.counters))))
        }
    }

    /// The backlog is read from SQLite when scraped rather than tracked: the relays and the
    /// order routes would otherwise all have to keep one number right between them.
    private func updateOutboxBacklog() async {
        let sinks = [("stream", OrderEvent.stream), ("ranking", dependencies.ranking.cursorName)]
        // SQLite down: the gauges keep their last values and the error counters tell the story.
        guard let counts = try? await dependencies.database.read({ db in
            try sinks.map { try Outbox.backlog(db, stream: $0.1) }
        }) else { return }
        for ((sink, _), count) in zip(sinks, counts) { dependencies.metrics.outboxBacklog(sink: sink, count) }
    }
}
