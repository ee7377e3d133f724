/// The issuance could not be decided or recorded, so nothing was issued; worth retrying later.
public struct IssueUnavailable: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
