import Synchronization

/// What the connection cap and the request deadlines did, for `GET /metrics`: connections open
/// now and the cap, connections closed at once past it, and connections closed because headers
/// or a body did not arrive in time. Plain atomics, read when scraped: these change on every
/// connection, from every event loop.
public final class ConnectionCounts: Sendable {
    private let cap = Atomic<Int>(0)
    private let open = Atomic<Int>(0)
    private let refused = Atomic<Int>(0)
    private let headerTimeouts = Atomic<Int>(0)
    private let bodyTimeouts = Atomic<Int>(0)
    private let responseTimeouts = Atomic<Int>(0)

    /// Sets the most connections ``admit()`` lets in.
    public func cap(at limit: Int) {
        cap.store(limit, ordering: .relaxed)
    }

    /// Counts a new connection in if fewer than the cap are open; false (and counted as refused)
    /// otherwise. The caller closes a refused connection and calls ``connectionClosed()`` when an
    /// admitted one closes.
    public func admit() -> Bool {
        if open.wrappingAdd(1, ordering: .relaxed).newValue <= cap.load(ordering: .relaxed) { return true }
        open.wrappingSubtract(1, ordering: .relaxed)
        refused.wrappingAdd(1, ordering: .relaxed)
        return false
    }

    /// Whether the cap's connections are all open.
    public var isFull: Bool {
        open.load(ordering: .relaxed) >= cap.load(ordering: .relaxed)
    }

    public func connectionClosed() {
        open.wrappingSubtract(1, ordering: .relaxed)
    }

    public func timedOut(_ phase: RequestPhase) {
        switch phase {
        case .header: headerTimeouts.wrappingAdd(1, ordering: .relaxed)
        case .body: bodyTimeouts.wrappingAdd(1, ordering: .relaxed)
        case .response: responseTimeouts.wrappingAdd(1, ordering: .relaxed)
        }
    }

    /// `commerce_http_connections_open`, `commerce_http_connections_max`,
    /// `commerce_http_connections_refused_total` and
    /// `commerce_http_connections_timed_out_total{phase}` in the Prometheus text format.
    func rendered() -> String {
        """
        # TYPE commerce_http_connections_max gauge
        commerce_http_connections_max \(cap.load(ordering: .relaxed))
        # TYPE commerce_http_connections_open gauge
        commerce_http_connections_open \(open.load(ordering: .relaxed))
        # TYPE commerce_http_connections_refused_total counter
        commerce_http_connections_refused_total \(refused.load(ordering: .relaxed))
        # TYPE commerce_http_connections_timed_out_total counter
        commerce_http_connections_timed_out_total{phase="header"} \(headerTimeouts.load(ordering: .relaxed))
        commerce_http_connections_timed_out_total{phase="body"} \(bodyTimeouts.load(ordering: .relaxed))
        commerce_http_connections_timed_out_total{phase="response"} \(responseTimeouts.load(ordering: .relaxed))

        """
    }
}

/// What a client had not done when its deadline passed: sent a request's headers or its body,
/// or read the answers it asked for.
public enum RequestPhase: Sendable {
    case header, body, response
}
