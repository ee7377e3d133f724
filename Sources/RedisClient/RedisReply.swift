/// A reply from Redis, as RESP2 types it.
///
/// Error replies nested in an array (for example inside `EXEC`) stay `.error`; a top-level error
/// reply is thrown by ``RedisClient/send(_:)`` as a ``RedisError`` with code `.server`.
public enum RedisReply: Sendable, Hashable {
    case integer(Int64)
    /// A bulk string: arbitrary bytes, not necessarily UTF-8.
    case bulk([UInt8])
    case array([RedisReply])
    /// A nil bulk string or a nil array.
    case null
    /// A simple status string such as `OK` or `QUEUED`.
    case status(String)
    case error(String)
}

extension RedisReply {
    /// The integer value, also for a bulk string that holds a decimal integer (as `GET` returns).
    public var int: Int64? {
        switch self {
        case .integer(let value): return value
        case .bulk(let bytes): return Int64(String(decoding: bytes, as: UTF8.self))
        case .status(let text): return Int64(text)
        default: return nil
        }
    }

    /// The text of a bulk or status reply, decoded as UTF-8.
    public var string: String? {
        switch self {
        case .bulk(let bytes): return String(decoding: bytes, as: UTF8.self)
        case .status(let text): return text
        case .integer(let value): return String(value)
        default: return nil
        }
    }

    /// The raw bytes of a bulk reply.
    public var bytes: [UInt8]? {
        if case .bulk(let bytes) = self { return bytes }
        return nil
    }

    /// The elements of an array reply.
    public var array: [RedisReply]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    public var isNull: Bool { self == .null }
}
