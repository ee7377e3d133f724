import Synchronization

/// A Lua script run with `EVALSHA`. Its SHA1 is learned from `SCRIPT LOAD` on first use (it is
/// the same on every server); a server that lacks it (restart, `SCRIPT FLUSH`, a cluster node
/// that never ran it) gets it loaded and the call is retried once (``RedisClient/run(_:keys:args:requiringTrustedData:)``).
public final class RedisScript: Sendable {
    /// A name for logs and errors, e.g. the file name.
    public let name: String
    public let source: String
    /// False for a script whose keys may sit in different hash slots: it runs on one Redis
    /// server only, and a cluster client refuses it.
    public let keysShareSlot: Bool
    private let sha = Mutex<String?>(nil)

    public init(name: String, source: String, keysShareSlot: Bool = true) {
        self.name = name
        self.source = source
        self.keysShareSlot = keysShareSlot
    }

    var loadedSHA: String? { sha.withLock { $0 } }
    func remember(_ value: String) { sha.withLock { $0 = value } }

    /// The `EVALSHA` call with `keys` marked as keys.
    func call(sha: String, keys: [String], args: [RedisArgument]) -> RedisCommand {
        RedisCommand(["EVALSHA", RedisArgument(sha), RedisArgument(keys.count)] + keys.map { .key($0) } + args,
                     keysShareSlot: keysShareSlot)
    }
}
