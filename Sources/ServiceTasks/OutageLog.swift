import Logging

/// What a retrying loop says about a dependency that is down: one warning when it starts
/// failing, one notice when it works again — not a line per attempt through a long outage.
public struct OutageLog {
    private let logger: Logger
    private let down: Logger.Message
    private let back: Logger.Message
    private var failing = false

    /// - Parameters:
    ///   - down: logged (warning, with the error) at the first failure after a success.
    ///   - back: logged (notice) at the first success after a failure.
    public init(logger: Logger, down: Logger.Message, back: Logger.Message) {
        self.logger = logger
        self.down = down
        self.back = back
    }

    public mutating func failed(_ error: any Error) {
        if !failing { logger.warning(down, metadata: ["error": "\(error)"]) }
        failing = true
    }

    public mutating func succeeded() {
        if failing { logger.notice(back) }
        failing = false
    }
}
