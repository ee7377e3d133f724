import CommerceStore
import GRDB
import ServiceLifecycle
import Synchronization

/// Commits concurrent write requests together: one transaction (one fsync under
/// `synchronous=FULL`) for everything that arrived while the previous commit was running, each
/// request in its own SAVEPOINT so a request that throws rolls back only itself.
///
/// A caller gets its result only after the transaction holding its work has committed, so a
/// returned value is durable. Runs as a `Service`: on graceful shutdown it commits what is
/// queued, then refuses new writes with ``StoreError/Code/closed``.
final class GroupCommitWriter: Service, Sendable {
    /// One request: runs its work inside the batch and says how to answer its caller afterwards.
    private struct Request: Sendable {
        /// Tells a request from the others in the queue (for a cancelled caller).
        let id: UInt64
        let apply: @Sendable (Database) throws -> @Sendable () -> Void
        let fail: @Sendable (any Error) -> Void
    }

    private enum Outcome: Sendable {
        case succeeded(@Sendable () -> Void)
        case failed(@Sendable (any Error) -> Void, any Error)
    }

    private struct State: Sendable {
        var queue: [Request] = []
        var wakeUp: CheckedContinuation<Void, Never>?
        var stopping = false
    }

    private let database: DatabasePool
    private let maxBatch: Int
    private let state = Mutex(State())
    private let transactions = Atomic<Int>(0)
    private let nextRequestID = Atomic<UInt64>(0)

    /// Transactions committed so far (each holding one or more requests).
    var committedTransactions: Int { transactions.load(ordering: .relaxed) }

    /// - Parameter maxBatch: the most requests one transaction holds; 1 turns group commit off
    ///   (one transaction per request), which is there to measure what batching buys.
    init(database: DatabasePool, maxBatch: Int = 512) {
        self.database = database
        self.maxBatch = max(1, maxBatch)
    }

    /// Runs `work` inside the next group transaction and returns its result once that committed.
    /// Whatever `work` throws is rethrown and undoes only `work`'s own changes. A caller cancelled
    /// while its request still waits for a batch gets `CancellationError` and nothing runs; once
    /// in a batch, the request is answered when the batch is done.
    func write<T: Sendable>(_ work: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let id = nextRequestID.wrappingAdd(1, ordering: .relaxed).oldValue
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                let request = Request(
                    id: id,
                    apply: { db in
                        let value = try work(db)
                        return { continuation.resume(returning: value) }
                    },
                    fail: { continuation.resume(throwing: $0) })
                let accepted = state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
                    guard !state.stopping else { return (false, nil) }
                    state.queue.append(request)
                    defer { state.wakeUp = nil }
                    return (true, state.wakeUp)
                }
                if !accepted.0 {
                    request.fail(StoreError(.closed, "the database writer has shut down"))
                }
                accepted.1?.resume()
            }
        } onCancel: {
            let withdrawn = state.withLock { state -> Request? in
                guard let index = state.queue.firstIndex(where: { $0.id == id }) else { return nil }
                return state.queue.remove(at: index)
            }
            withdrawn?.fail(CancellationError())
        }
    }

    func run() async throws {
        // Stops on graceful shutdown and also when cancelled (e.g. another service of the group
        // failed): the wait for work is not cancellable by itself, and the queue must be flushed.
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                while let batch = await nextBatch() {
                    await commitWhileBusy(batch)
                }
            } onGracefulShutdown: {
                self.stop()
            }
        } onCancel: {
            self.stop()
        }
    }

    /// Stops taking new writes; `run()` returns after committing what is already queued.
    func stop() {
        let waiter = state.withLock { state in
            state.stopping = true
            defer { state.wakeUp = nil }
            return state.wakeUp
        }
        waiter?.resume()
    }

    /// The queued requests (at most `maxBatch`), waiting for one if there are none; nil once
    /// stopped with nothing left.
    private func nextBatch() async -> [Request]? {
        while true {
            if let batch = takeQueued() { return batch }
            if state.withLock({ $0.stopping && $0.queue.isEmpty }) { return nil }
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state in
                    guard state.queue.isEmpty && !state.stopping else { return true }
                    state.wakeUp = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
    }

    /// Up to `maxBatch` queued requests, or nil when none wait.
    private func takeQueued() -> [Request]? {
        state.withLock { state in
            guard !state.queue.isEmpty else { return nil }
            let count = min(maxBatch, state.queue.count)
            let batch = Array(state.queue.prefix(count))
            state.queue.removeFirst(count)
            return batch
        }
    }

    /// Commits `first`, then every batch that queued meanwhile, without leaving the database's
    /// writer thread: under load one commit follows the next with no scheduling gap between.
    private func commitWhileBusy(_ first: [Request]) async {
        do {
            try await database.writeWithoutTransaction { db in
                var batch = first
                while true {
                    commit(batch, in: db)
                    guard let next = takeQueued() else { return }
                    batch = next
                }
            }
        } catch {
            // The writer connection could not be had at all: nothing of `first` ran.
            for request in first { request.fail(error) }
        }
    }

    /// One transaction for `batch`, each request in its own savepoint; callers are answered
    /// after the commit (or all failed if the transaction as a whole fails).
    private func commit(_ batch: [Request], in db: Database) {
        var outcomes: [Outcome] = []
        outcomes.reserveCapacity(batch.count)
        do {
            try db.inTransaction(.immediate) {
                for request in batch {
                    do {
                        outcomes.append(.succeeded(try db.withSavepoint { try request.apply(db) }))
                    } catch {
                        // Some errors (disk full, I/O) make SQLite roll back the whole
                        // transaction: then no request in this batch can commit.
                        guard db.isInsideTransaction else { throw error }
                        outcomes.append(.failed(request.fail, error))
                    }
                }
                return .commit
            }
        } catch {
            for request in batch { request.fail(error) }
            return
        }
        transactions.add(1, ordering: .relaxed)
        for outcome in outcomes {
            switch outcome {
            case .succeeded(let answer): answer()
            case .failed(let fail, let error): fail(error)
            }
        }
    }
}
