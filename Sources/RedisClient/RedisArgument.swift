/// One argument of a Redis command: binary-safe bytes.
///
/// Strings are sent as UTF-8 and integers in decimal, as Redis expects them.
public struct RedisArgument: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }
    public init(_ string: String) { self.bytes = Array(string.utf8) }
    public init(_ integer: some BinaryInteger) { self.bytes = Array(String(integer).utf8) }
    public init(stringLiteral value: String) { self.init(value) }
    public init(integerLiteral value: Int) { self.init(value) }
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
