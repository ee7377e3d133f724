import Logging
import NIOCore
import Synchronization

/// One place in the pool: holds an open connection, or the connect in progress that every caller
/// arriving meanwhile waits for, or the recent failure that callers get at once.
///
/// The caller that finds no connection opens one itself, in its own task, and hands the result
/// to those who arrived meanwhile: no task outlives the callers.
final class ConnectionSlot: Sendable {
    private enum State {
        case idle
        case connecting(waiters: [CheckedContinuation<RedisConnection, any Error>])
        case ready(RedisConnection)
        case failed(RedisError, retryAt: NIODeadline)
        case closed
    }

    private let state = Mutex(State.idle)
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    /// The open connection, opening one with `connect` if there is none.
    func connection(
        backoff: TimeAmount,
        connect: @Sendable () async throws -> RedisConnection
    ) async throws -> RedisConnection {
        enum Next { case use(RedisConnection), fail(RedisError), wait, open(wasFailing: Bool) }
        let next: Next = state.withLock { state in
            switch state {
            case .ready(let connection) where connection.isActive:
                return .use(connection)
            case .connecting:
                return .wait
            case .failed(let error, let retryAt) where NIODeadline.now() < retryAt:
                return .fail(error)
            case .closed:
                return .fail(Self.closedError)
            default:
                let wasFailing = if case .failed = state { true } else { false }
                state = .connecting(waiters: [])
                return .open(wasFailing: wasFailing)
            }
        }
        switch next {
        case .use(let connection): return connection
        case .fail(let error): throw error
        case .wait: return try await waitForConnect()
        case .open(let wasFailing): return try await open(connect, backoff: backoff, wasFailing: wasFailing)
        }
    }

    /// Joins the connect in progress; if it ended meanwhile, answers from how it ended.
    private func waitForConnect() async throws -> RedisConnection {
        try await withCheckedThrowingContinuation { continuation in
            let ended = state.withLock { state -> Result<RedisConnection, any Error>? in
                switch state {
                case .connecting(var waiters):
                    waiters.append(continuation)
                    state = .connecting(waiters: waiters)
                    return nil
                case .ready(let connection): return .success(connection)
                case .failed(let error, _): return .failure(error)
                case .closed: return .failure(Self.closedError)
                case .idle: return .failure(RedisError(.connectionFailed, "the connection attempt was abandoned"))
                }
            }
            if let ended { continuation.resume(with: ended) }
        }
    }

    /// Opens the connection for this caller and those who joined meanwhile.
    private func open(
        _ connect: @Sendable () async throws -> RedisConnection, backoff: TimeAmount, wasFailing: Bool
    ) async throws -> RedisConnection {
        let result: Result<RedisConnection, RedisError>
        do {
            result = .success(try await connect())
        } catch {
            result = .failure(error as? RedisError ?? RedisError(.connectionFailed, "\(error)"))
        }
        let waiters = state.withLock { state -> [CheckedContinuation<RedisConnection, any Error>]? in
            guard case .connecting(let waiters) = state else { return nil }  // closed meanwhile
            switch result {
            case .success(let connection): state = .ready(connection)
            case .failure(let error): state = .failed(error, retryAt: .now() + backoff)
            }
            return waiters
        }
        guard let waiters else {
            if case .success(let connection) = result { connection.close() }  // shut down while connecting
            throw Self.closedError
        }
        switch result {
        case .success where wasFailing:
            logger.notice("redis reachable again")
        case .failure(let error) where !wasFailing:
            // Logged once per outage, not once per retry.
            logger.warning("redis unreachable; calls fail fast until it is back", metadata: ["error": "\(error)"])
        default:
            break
        }
        for waiter in waiters { waiter.resume(with: result.mapError { $0 as any Error }) }
        return try result.get()
    }

    /// Closes the connection and refuses further use.
    func close() {
        let previous = state.withLock { state in
            defer { state = .closed }
            return state
        }
        switch previous {
        case .ready(let connection): connection.close()
        case .connecting(let waiters): for waiter in waiters { waiter.resume(throwing: Self.closedError) }
        default: break
        }
    }

    private static var closedError: RedisError { RedisError(.clientClosed, "the Redis client was shut down") }
}
