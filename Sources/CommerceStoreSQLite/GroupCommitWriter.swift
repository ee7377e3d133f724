import CommerceStore
import GRDB
import ServiceLifecycle
import ServiceTasks
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

    private let database: DatabasePool
    private let maxBatch: Int
    private let queue = WorkQueue<Request>()
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
                if !queue.append(request) {
                    request.fail(StoreError(.closed, "the database writer has shut down"))
                }
            }
        } onCancel: {
            queue.remove { $0.id == id }?.fail(CancellationError())
        }
    }

    func run() async throws {
        // Stops on graceful shutdown and also when cancelled (e.g. another service of the group
        // failed): the wait for work is not cancellable by itself, and the queue must be flushed.
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                while let batch = await queue.next(upTo: maxBatch) {
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
        queue.stop()
    }

    /// Commits `first`, then every batch that queued meanwhile, without leaving the database's
    /// writer thread: under load one commit follows the next with no scheduling gap between.
    private func commitWhileBusy(_ first: [Request]) async {
        do {
            try await database.writeWithoutTransaction { db in
                var batch = first
                while true {
                    commit(batch, in: db)
                    guard let next = queue.take(upTo: maxBatch) else { return }
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
