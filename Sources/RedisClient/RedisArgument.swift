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
        let (seconds, attoseconds) = duration.components
        self.init(seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }
}
