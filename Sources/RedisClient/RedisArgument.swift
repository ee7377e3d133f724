/// One argument of a Redis command: binary-safe bytes.
///
/// Strings are sent as UTF-8 and integers in decimal, as Redis expects them. An argument that
/// names a key says so (``key(_:)``): a Redis Cluster client sends the command to the node that
/// serves the key's slot, so every call site marks its keys.
public struct RedisArgument: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    public let bytes: [UInt8]
    /// True when the argument names a key.
    public let isKey: Bool

    public init(bytes: [UInt8]) { self.init(bytes: bytes, isKey: false) }
    public init(_ string: String) { self.init(bytes: Array(string.utf8)) }
    public init(_ integer: some BinaryInteger) { self.init(bytes: Array(String(integer).utf8)) }
    public init(stringLiteral value: String) { self.init(value) }
    public init(integerLiteral value: Int) { self.init(value) }

    private init(bytes: [UInt8], isKey: Bool) {
        self.bytes = bytes
        self.isKey = isKey
    }

    /// The name of a key, e.g. `send("GET", .key("coupon:{7}:remaining"))`.
    public static func key(_ name: String) -> RedisArgument { RedisArgument(bytes: Array(name.utf8), isKey: true) }

    /// This argument, marked as a key.
    public var asKey: RedisArgument { RedisArgument(bytes: bytes, isKey: true) }
}

extension RedisArgument {
    /// A duration in whole milliseconds, as `PEXPIRE` and `PX` take it.
    public init(milliseconds duration: Duration) {
        self.init(duration.wholeMilliseconds)
    }
}

extension Duration {
    /// The duration in whole milliseconds (Redis timeouts and expiries count in them).
    public var wholeMilliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
