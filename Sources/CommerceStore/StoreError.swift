/// An error of the store itself (as opposed to an error thrown by a write's own logic, which the
/// store passes through unchanged).
public struct StoreError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// The writer has stopped (graceful shutdown); the write was not attempted.
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
