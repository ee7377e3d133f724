/// How many client connections the server holds and how long it waits for what a client owes.
///
/// A flash sale is a flood of connections by design, and anyone can open sockets that never
/// finish a request. Every connection costs a file descriptor, and a process that runs out of
/// them does not fail politely: libdispatch traps at EMFILE and takes the process down. So the
/// server holds at most ``maxConnections`` (closing the rest as they are accepted), keeps the
/// rest of its descriptors for Redis, the database, logs and the runtime, and closes connections
/// that stop short.
public struct ConnectionLimits: Sendable, Equatable {
    /// Connections held at once; one more is closed as soon as it is accepted.
    public var maxConnections: Int
    /// How long a request's headers may take to arrive: from the connection's opening, or on a
    /// keep-alive connection from the first bytes of its next request.
    public var headerTimeout: Duration
    /// How long a request's body may take to arrive after its headers.
    public var bodyTimeout: Duration
    /// How long a keep-alive connection may wait between requests, and a client whose unread
    /// answers fill the connection's write buffer has to read them down.
    public var idleTimeout: Duration

    public init(maxConnections: Int, headerTimeout: Duration = .seconds(10), bodyTimeout: Duration = .seconds(30),
                idleTimeout: Duration = .seconds(60)) {
        self.maxConnections = maxConnections
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.idleTimeout = idleTimeout
    }

    /// Descriptors not given to client connections under an open-file limit: the listening
    /// socket, the event loops' epoll and event descriptors, Redis connections, the database's
    /// files (a few per pooled connection), log files, libdispatch's and Foundation's own (26
    /// in all, measured), and the sockets accepted past the cap until their close has run (at
    /// most ``ConnectionCap``'s 32 plus one read's 4). An eighth of the limit, at least 128,
    /// leaves room for what the process opens later.
    public static func reserve(openFileLimit: Int) -> Int {
        max(128, openFileLimit / 8)
    }

    /// The default cap under an open-file limit: what the limit leaves after the reserve, and
    /// at most 50,000, where the connections' memory stays near 1 GiB (measured with 10,000:
    /// 12 KiB each while idle, 21 KiB each once they have made a request). Nil when the limit
    /// leaves no room for connections at all.
    public static func defaultMaxConnections(openFileLimit: Int) -> Int? {
        let room = openFileLimit - reserve(openFileLimit: openFileLimit)
        return room >= 16 ? min(room, 50_000) : nil
    }
}
