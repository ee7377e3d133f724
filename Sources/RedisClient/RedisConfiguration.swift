import NIOCore

/// Where Redis is and how patient to be with it.
public struct RedisConfiguration: Sendable, Hashable {
    public var host: String
    public var port: Int
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

    /// Reads `redis://[[user]:password@]host[:port][/db]`, e.g. `redis://127.0.0.1:6379/0`.
    public init(url: String) throws(RedisError) {
        self.init()
        guard url.hasPrefix("redis://") else {
            throw RedisError(.invalidURL, "\(url): expected redis://host:port/db")
        }
        var rest = Substring(url.dropFirst("redis://".count))
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            let secret = credentials.firstIndex(of: ":").map { credentials[credentials.index(after: $0)...] } ?? credentials
            password = secret.isEmpty ? nil : (String(secret).removingPercentEncoding ?? String(secret))
            rest = rest[rest.index(after: at)...]
        }
        if let slash = rest.firstIndex(of: "/") {
            let path = rest[rest.index(after: slash)...]
            if !path.isEmpty {
                guard let db = Int(path), db >= 0 else { throw RedisError(.invalidURL, "\(url): database must be a number") }
                database = db
            }
            rest = rest[..<slash]
        }
        if let colon = rest.lastIndex(of: ":") {
            guard let port = Int(rest[rest.index(after: colon)...]), (1...65535).contains(port) else {
                throw RedisError(.invalidURL, "\(url): port must be 1...65535")
            }
            self.port = port
            rest = rest[..<colon]
        }
        guard !rest.isEmpty else { throw RedisError(.invalidURL, "\(url): no host") }
        host = String(rest)
    }
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
