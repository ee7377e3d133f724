import Synchronization

/// A Lua script run with `EVALSHA`. Its SHA1 is learned from `SCRIPT LOAD` on first use; when
/// Redis has forgotten it (restart, `SCRIPT FLUSH`) the client loads it again and retries once.
public final class RedisScript: Sendable {
    /// A name for logs and errors, e.g. the file name.
    public let name: String
    public let source: String
    private let sha = Mutex<String?>(nil)

    public init(name: String, source: String) {
        self.name = name
        self.source = source
    }

    fileprivate var loadedSHA: String? { sha.withLock { $0 } }
    fileprivate func remember(_ value: String) { sha.withLock { $0 = value } }
}

extension RedisClient {
    /// Runs `script` with `keys` and `args` through `EVALSHA`, loading it when Redis lacks it.
    /// `requiringTrustedData`: as for ``send(_:requiringTrustedData:)``.
    @discardableResult
    public func run(
        _ script: RedisScript, keys: [String] = [], args: [RedisArgument] = [], requiringTrustedData: Bool = false
    ) async throws -> RedisReply {
        let known = script.loadedSHA
        let sha: String
        if let known { sha = known } else { sha = try await load(script) }
        do {
            return try await send(evalSHA(sha, keys: keys, args: args), requiringTrustedData: requiringTrustedData)
        } catch let error as RedisError where error.isServerError("NOSCRIPT") {
            return try await send(evalSHA(try await load(script), keys: keys, args: args), requiringTrustedData: requiringTrustedData)
        }
    }

    /// Loads `script` with `SCRIPT LOAD` (also useful at start-up, to fail early on a syntax error).
    @discardableResult
    public func load(_ script: RedisScript) async throws -> String {
        let reply = try await send("SCRIPT", "LOAD", RedisArgument(script.source))
        guard let sha = reply.string else {
            throw RedisError(.protocolError, "SCRIPT LOAD of \(script.name) returned \(reply)")
        }
        script.remember(sha)
        return sha
    }

    private func evalSHA(_ sha: String, keys: [String], args: [RedisArgument]) -> RedisCommand {
        RedisCommand(["EVALSHA", RedisArgument(sha), RedisArgument(keys.count)] + keys.map { .key($0) } + args)
    }
}
