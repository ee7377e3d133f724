/// The issuance could not be decided or recorded, so nothing was issued; worth retrying later.
public struct IssueUnavailable: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// Redis may have lost data (restarted, flushed, replaced) and is being repaired from the store:
/// until then nothing is issued, so nothing can be issued twice or past the stock. Worth trying
/// again after `retryAfter`.
public struct IssueFenced: Error, Sendable, CustomStringConvertible {
    public let retryAfter: Duration

    /// A repair takes well under a second for ordinary events; two is the first retry worth trying.
    public init(retryAfter: Duration = .seconds(2)) {
        self.retryAfter = retryAfter
    }

    public var description: String {
        "Redis is being repaired after losing data; nothing was issued, try again shortly"
    }
}
