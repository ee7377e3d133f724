/// An error from the Redis client: a failure to reach Redis, a timeout, or an error reply.
///
/// A struct with an extensible ``Code`` rather than an enum, so codes can be added without
/// breaking callers that switch over them.
public struct RedisError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case connectionFailed, connectionClosed, timeout, server, protocolError, clientClosed, invalidURL, untrustedData
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// Could not open a connection (refused, unreachable, connect timeout, failed AUTH/SELECT).
        public static let connectionFailed = Code(.connectionFailed)
        /// The connection closed while the command was waiting for its reply.
        public static let connectionClosed = Code(.connectionClosed)
        /// No reply within the command timeout; the connection is closed and will be reopened.
        public static let timeout = Code(.timeout)
        /// Redis answered with an error reply; ``RedisError/message`` holds it.
        public static let server = Code(.server)
        /// The bytes from Redis could not be parsed, or replies and commands went out of step.
        public static let protocolError = Code(.protocolError)
        /// The client was shut down.
        public static let clientClosed = Code(.clientClosed)
        /// The Redis URL could not be understood.
        public static let invalidURL = Code(.invalidURL)
        /// The command needs data this Redis may have lost (see ``RedisDataGuard``); it was not sent.
        public static let untrustedData = Code(.untrustedData)

        public var description: String { base.rawValue }
    }

    public let code: Code
    /// For `.server` the error reply as Redis sent it (e.g. `NOSCRIPT No matching script...`),
    /// otherwise a sentence for the log.
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// True for an error reply whose first word is `prefix` (`NOSCRIPT`, `WRONGTYPE`, `BUSYGROUP`...).
    public func isServerError(_ prefix: String) -> Bool {
        code == .server && (message == prefix || message.hasPrefix(prefix + " "))
    }

    /// True when Redis could not be reached or stopped answering: the caller may retry later,
    /// and the command may or may not have run (it certainly has not for `connectionFailed`).
    public var isUnavailable: Bool {
        code == .connectionFailed || code == .connectionClosed || code == .timeout || code == .clientClosed
    }

    public var description: String { "Redis \(code): \(message)" }
}
