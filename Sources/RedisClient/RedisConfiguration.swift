import NIOCore

/// Where Redis is and how patient to be with it.
public struct RedisConfiguration: Sendable, Hashable {
    /// The server; in a cluster, the first seed node.
    public var host: String
    public var port: Int
    /// A Redis Cluster's seed nodes (any reachable one tells the client the rest); empty for one server.
    public var clusterSeeds: [RedisEndpoint] = []
    public var password: String?
    public var database: Int
    /// Connections in the pool; each carries any number of pipelined commands.
    public var poolSize: Int
    public var connectTimeout: TimeAmount
    /// How long a command may wait for its reply before the caller gets `.timeout`.
    public var commandTimeout: TimeAmount
    /// After a failed connect, calls fail at once for this long instead of each trying again:
    /// a Redis outage costs callers nothing but the error.
    public var reconnectBackoff: TimeAmount

    public init(
        host: String = "127.0.0.1",
        port: Int = 6379,
        password: String? = nil,
        database: Int = 0,
        poolSize: Int = 4,
        connectTimeout: TimeAmount = .milliseconds(500),
        commandTimeout: TimeAmount = .milliseconds(500),
        reconnectBackoff: TimeAmount = .milliseconds(100)
    ) {
        self.host = host
        self.port = port
        self.password = password
        self.database = database
        self.poolSize = poolSize
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.reconnectBackoff = reconnectBackoff
    }

    /// True for a Redis Cluster.
    public var isCluster: Bool { !clusterSeeds.isEmpty }

    /// The server, as `host:port`.
    public var endpoint: RedisEndpoint { RedisEndpoint(host: host, port: port) }

    /// Reads `redis://[[user]:password@]host[:port][/db]`, e.g. `redis://127.0.0.1:6379/0`, or
    /// `redis+cluster://[[user]:password@]host:port[,host:port...]` (seed nodes of a cluster,
    /// which has database 0 only).
    public init(url: String) throws(RedisError) {
        self.init()
        let clusterScheme = "redis+cluster://"
        let isCluster = url.hasPrefix(clusterScheme)
        guard url.hasPrefix("redis://") || isCluster else {
            throw RedisError(.invalidURL, "\(url): expected redis://host:port/db or redis+cluster://host:port[,host:port...]")
        }
        var rest = Substring(url.dropFirst(isCluster ? clusterScheme.count : "redis://".count))
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            let secret = credentials.firstIndex(of: ":").map { credentials[credentials.index(after: $0)...] } ?? credentials
            password = secret.isEmpty ? nil : (String(secret).removingPercentEncoding ?? String(secret))
            rest = rest[rest.index(after: at)...]
        }
        if let slash = rest.firstIndex(of: "/") {
            let path = rest[rest.index(after: slash)...]
            if isCluster && !path.isEmpty && path != "0" {
                throw RedisError(.invalidURL, "\(url): a cluster has database 0 only")
            }
            if !path.isEmpty {
                guard let db = Int(path), db >= 0 else { throw RedisError(.invalidURL, "\(url): database must be a number") }
                database = db
            }
            rest = rest[..<slash]
        }
        if isCluster {
            clusterSeeds = try rest.split(separator: ",", omittingEmptySubsequences: false).map { seed throws(RedisError) in
                try Self.endpoint(seed, defaultPort: 6379, url: url)
            }
            (host, port) = (clusterSeeds[0].host, clusterSeeds[0].port)
        } else {
            (host, port) = try Self.endpoint(rest, defaultPort: port, url: url).parts
        }
    }

    private static func endpoint(_ text: Substring, defaultPort: Int, url: String) throws(RedisError) -> RedisEndpoint {
        var host = text
        var port = defaultPort
        if let colon = text.lastIndex(of: ":") {
            guard let number = Int(text[text.index(after: colon)...]), (1...65535).contains(number) else {
                throw RedisError(.invalidURL, "\(url): port must be 1...65535")
            }
            port = number
            host = text[..<colon]
        }
        guard !host.isEmpty else { throw RedisError(.invalidURL, "\(url): no host") }
        return RedisEndpoint(host: String(host), port: port)
    }
}

/// A Redis server's address.
public struct RedisEndpoint: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    var parts: (String, Int) { (host, port) }

    /// `host:port`, as Redis writes it in `MOVED` and `CLUSTER SLOTS`.
    public var description: String { "\(host):\(port)" }
}

extension String {
    /// Percent-decoding without Foundation, for passwords in URLs.
    fileprivate var removingPercentEncoding: String? {
        var bytes: [UInt8] = []
        var iterator = utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next(), let low = iterator.next(),
                      let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16) else { return nil }
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
