import CommerceStore
import PostgresNIO
import ServiceTasks

/// Merges concurrent ``CouponStore/recordIssues(couponID:_:)`` calls into one statement. The
/// coupon gate sends a batch per Redis decision, and under a burst those batches are small and
/// many; as a transaction each, every one pays a commit and its WAL flush (PostgreSQL's CPU, not
/// the rows, was the limit: 7,000 issuances a second with a statement per batch, 11,000-12,000
/// merged). One statement is written at a time: the caller that finds none under way writes its
/// own batch at once; batches that arrive meanwhile wait, and the next of them writes all of
/// them together when the turn comes to it (several statements in flight measured no faster).
/// No task of its own: each write runs in a caller's task, and nothing outlives the callers.
final class IssuanceWrites: Sendable {
    typealias Results = [Result<Void, any Error>]

    private struct Waiter: Sendable {
        let batch: Batch
        let continuation: CheckedContinuation<Turn, Never>
    }

    struct Batch: Sendable {
        let couponID: Int64
        let issuances: [Issuance]
    }

    private enum Turn: Sendable {
        case written(Result<Results, any Error>)
        case lead
    }

    private let turns = Turns<Int, Waiter>()
    /// At most this many batches in one statement (the gate's batches hold up to 256 each).
    private let maxBatches = 32

    /// Records `batch` with `write`, together with whatever batches wait when its turn comes;
    /// `write` gets the batches and returns each one's results, in order.
    func record(_ batch: Batch, write: @Sendable ([Batch]) async throws -> [Results]) async throws -> Results {
        switch await turns.turn(0, lead: Turn.lead, waiter: { Waiter(batch: batch, continuation: $0) }) {
        case .written(let results):
            return try results.get()
        case .lead:
            let others = turns.take(0, upTo: maxBatches - 1)
            let written: Result<[Results], any Error>
            do {
                written = .success(try await write([batch] + others.map(\.batch)))
            } catch {
                written = .failure(error)
            }
            // The next write starts before this one's callers are answered.
            turns.handOver(0, upTo: 1).first?.continuation.resume(returning: .lead)
            for (index, other) in others.enumerated() {
                other.continuation.resume(returning: .written(written.map { $0[index + 1] }))
            }
            return try written.get()[0]
        }
    }
}
