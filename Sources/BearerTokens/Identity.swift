/// Who a request acts for: the user of its bearer token, and whether the token is an admin's.
public struct Identity: Sendable, Equatable {
    public let userID: Int64
    public let isAdmin: Bool

    public init(userID: Int64, isAdmin: Bool) {
        self.userID = userID
        self.isAdmin = isAdmin
    }

    /// Whether this identity may act for `userID`: its own user, or anyone for an admin.
    public func mayActFor(_ userID: Int64) -> Bool { isAdmin || self.userID == userID }
}

/// Why a bearer token, a secret or a key set was refused (for the 401's `detail` and the log;
/// never a secret or a key).
public struct TokenRejection: Error, Sendable, Equatable, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }

    public init(_ reason: String) { self.reason = reason }
}
