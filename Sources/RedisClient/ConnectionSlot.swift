import Logging
import NIOCore
import Synchronization

/// One place in the pool: holds an open connection, or the connect in progress that every caller
/// arriving meanwhile waits for, or the recent failure that callers get at once.
final class ConnectionSlot: Sendable {
    private enum State {
        case idle
        case connecting(EventLoopFuture<RedisConnection>)
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
        connect: @Sendable () -> EventLoopFuture<RedisConnection>
    ) async throws -> RedisConnection {
        enum Next { case use(RedisConnection), wait(EventLoopFuture<RedisConnection>), fail(RedisError) }
        var started: EventLoopFuture<RedisConnection>?
        var wasFailing = false
        let next: Next = state.withLock { state in
            switch state {
            case .ready(let connection) where connection.isActive:
                return .use(connection)
            case .connecting(let future):
                return .wait(future)
            case .failed(let error, let retryAt) where NIODeadline.now() < retryAt:
                return .fail(error)
            case .closed:
                return .fail(RedisError(.clientClosed, "the Redis client was shut down"))
            default:
                if case .failed = state { wasFailing = true }
                let future = connect()
                state = .connecting(future)
                started = future
                return .wait(future)
            }
        }
        if let started {
            let wasFailing = wasFailing
            started.whenComplete { [self] result in
                let kept = self.state.withLock { state -> Bool in
                    guard case .connecting = state else { return false }
                    switch result {
                    case .success(let connection): state = .ready(connection)
                    case .failure(let error):
                        let redisError = error as? RedisError ?? RedisError(.connectionFailed, "\(error)")
                        state = .failed(redisError, retryAt: .now() + backoff)
                    }
                    return true
                }
                switch result {
                case .success(let connection) where !kept:
                    connection.close()  // shut down while connecting: do not keep it
                case .success where wasFailing:
                    logger.notice("redis reachable again")
                case .failure(let error) where kept && !wasFailing:
                    // Logged once per outage, not once per retry.
                    logger.warning("redis unreachable; calls fail fast until it is back", metadata: ["error": "\(error)"])
                default:
                    break
                }
            }
        }
        switch next {
        case .use(let connection): return connection
        case .fail(let error): throw error
        case .wait(let future):
            do {
                return try await future.get()
            } catch let error as RedisError {
                throw error
            } catch {
                throw RedisError(.connectionFailed, "\(error)")
            }
        }
    }

    /// Closes the connection and refuses further use.
    func close() {
        let previous = state.withLock { state in
            defer { state = .closed }
            return state
        }
        if case .ready(let connection) = previous { connection.close() }
    }
}
