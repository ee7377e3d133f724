import Logging
import ServiceLifecycle
import ServiceTasks

/// Re-reads the tokens' key set file every second while the service runs, so a key the
/// identity provider adds or removes takes effect without a restart.
public struct KeySetWatcher: Service {
    let tokens: AccessTokens
    let logger: Logger

    public init(tokens: AccessTokens, logger: Logger) {
        self.tokens = tokens
        self.logger = logger
    }

    public func run() async throws {
        await repeatUntilShutdown(every: .seconds(1)) { await tokens.reloadKeySetIfChanged(logger: logger) }
    }
}
