import ArgumentParser
import CommerceAPI

/// `--max-connections` and the timeouts for clients that stop short, resolved against the
/// process's open-file limit.
struct ConnectionOptions: ParsableArguments {
    @Option(help: "Most client connections held at once; more are closed as soon as they are accepted. At most the open-file limit minus a reserve for Redis, the database and the runtime (an eighth of the limit, at least 128). (env: COMMERCE_MAX_CONNECTIONS, default: that room, at most 50000)")
    var maxConnections: Int?

    @Option(help: "Time a request's headers may take, from the connection's opening or the first bytes of a keep-alive connection's next request; then the connection is closed. E.g. 10s, 500ms, 2m. (env: COMMERCE_HEADER_TIMEOUT, default: 10s)")
    var headerTimeout: TimeoutArgument?

    @Option(help: "Time a request's body may take after its headers; then the connection is closed. (env: COMMERCE_BODY_TIMEOUT, default: 30s)")
    var bodyTimeout: TimeoutArgument?

    @Option(help: "Time a keep-alive connection may wait for its next request, and a client has to read answers that fill the connection's buffers; then it is closed. (env: COMMERCE_IDLE_TIMEOUT, default: 60s)")
    var idleTimeout: TimeoutArgument?

    /// The limits under `openFiles`; an explicit cap the limit cannot hold is an error, not a
    /// crash under the first flood.
    func resolved(openFiles: OpenFileLimit) throws -> ConnectionLimits {
        let limit = openFiles.soft
        let room = limit - ConnectionLimits.reserve(openFileLimit: limit)
        let fallback = ConnectionLimits.defaultMaxConnections(openFileLimit: limit)
        let maxConnections = try resolve(maxConnections, env: "COMMERCE_MAX_CONNECTIONS", default: fallback ?? 0)
        guard maxConnections >= 1 else {
            throw ValidationError(fallback == nil
                ? "the open-file limit \(limit) leaves no room for connections; raise it (ulimit -n, LimitNOFILE=) to at least 1024"
                : "--max-connections must be at least 1")
        }
        guard maxConnections <= room else {
            throw ValidationError("""
                --max-connections \(maxConnections) does not fit the open-file limit \(limit) (hard limit \(openFiles.hardText)): \
                at most \(max(room, 0)) leave the reserve of \(ConnectionLimits.reserve(openFileLimit: limit)); \
                raise the limit (ulimit -n, LimitNOFILE=) or lower --max-connections
                """)
        }
        return ConnectionLimits(
            maxConnections: maxConnections,
            headerTimeout: try resolve(headerTimeout, env: "COMMERCE_HEADER_TIMEOUT", default: TimeoutArgument(.seconds(10))).duration,
            bodyTimeout: try resolve(bodyTimeout, env: "COMMERCE_BODY_TIMEOUT", default: TimeoutArgument(.seconds(30))).duration,
            idleTimeout: try resolve(idleTimeout, env: "COMMERCE_IDLE_TIMEOUT", default: TimeoutArgument(.seconds(60))).duration)
    }
}

/// A positive time on the command line: `10s`, `500ms`, `2m`, or a number of seconds.
struct TimeoutArgument: ExpressibleByArgument {
    let duration: Duration

    init(_ duration: Duration) {
        self.duration = duration
    }

    init?(argument: String) {
        let units: [(suffix: String, seconds: Double)] = [("ms", 0.001), ("s", 1), ("m", 60)]
        let unit = units.first { argument.hasSuffix($0.suffix) } ?? ("", 1)
        guard let value = Double(argument.dropLast(unit.suffix.count)), value.isFinite, value > 0,
              value * unit.seconds <= 86_400 else { return nil }
        duration = .milliseconds(Int64((value * unit.seconds * 1000).rounded(.up)))
    }
}
