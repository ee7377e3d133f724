/// The store could not do what was asked, for a reason of its own rather than a business rule
/// (those are ``CommerceError``s). Every driver maps its database's errors to these codes, so the
/// callers above never see a driver's error type.
public struct StoreError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// The database cannot take requests right now: locked by another process past the busy
        /// timeout, unreachable, out of disk, failing I/O, read-only. Nothing was changed and
        /// the same request may succeed later (the API answers 503).
        public static let unavailable = Code("unavailable")
        /// The driver has stopped (graceful shutdown); the request was not attempted.
        public static let closed = Code("closed")
        public var description: String { name }
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "store \(code): \(message)" }
}
