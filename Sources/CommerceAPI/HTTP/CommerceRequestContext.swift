import BearerTokens
import Hummingbird
import NIOCore

/// The request context of every route: Hummingbird's basics with the contract's 64 KiB body
/// limit, who the request acts for, and where it came from.
public struct CommerceRequestContext: RequestContext {
    /// Bodies over this many bytes are answered 413 `PAYLOAD_TOO_LARGE`.
    public static let bodyLimit = 64 * 1024

    public var coreContext: CoreRequestContextStorage
    /// Set by ``Authentication`` on every route that needs a token; nil on the open ones.
    public var identity: Identity?
    private let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }

    public var maxUploadSize: Int { Self.bodyLimit }

    /// The connection's peer IP address, looked up only when asked; behind trusted proxies the
    /// client's is ``TrustedProxies/clientAddress(peer:forwardedFor:)``'s.
    public var peerAddress: String { channel.remoteAddress?.ipAddress ?? "unknown" }

    /// Refuses the request (403 `FORBIDDEN`) unless its token may act for `userID`.
    public func authorize(userID: Int64) throws {
        guard let identity, identity.mayActFor(userID) else {
            throw Problem(.forbidden, code: "FORBIDDEN", detail: identity.map {
                "the token is for user \($0.userID); it may not act for user \(userID)"
            } ?? "this route needs a token")
        }
    }
}
