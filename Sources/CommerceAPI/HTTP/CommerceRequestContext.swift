import Hummingbird

/// The request context of every route: Hummingbird's basics with the contract's 64 KiB body limit.
public struct CommerceRequestContext: RequestContext {
    /// Bodies over this many bytes are answered 413 `PAYLOAD_TOO_LARGE`.
    public static let bodyLimit = 64 * 1024

    public var coreContext: CoreRequestContextStorage

    public init(source: Source) {
        self.coreContext = .init(source: source)
    }

    public var maxUploadSize: Int { Self.bodyLimit }
}
