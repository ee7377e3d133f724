import CommerceStore
import ServiceTasks

/// One issue request as the gate decides it.
struct IssueRequest: Sendable {
    /// Tells a request from the others of its coupon's queue (for a cancelled caller).
    let id: UInt64
    let userID: Int64
    /// The client's address, for the per-address rate limit.
    let address: String
    /// When it was asked (ms since the epoch): checked against the issue window, and the
    /// issuance's time if it is issued.
    let issuedAt: Int64

    var issuance: Issuance { Issuance(userID: userID, issuedAt: issuedAt) }

    /// Who asked, as the rate limit counts it.
    var client: (userID: Int64, address: String) { (userID, address) }

    func giveBack(_ couponID: Int64) -> GiveBackQueue.GiveBack {
        .init(couponID: couponID, userID: userID, issuedAt: issuedAt)
    }
}

/// Per coupon, the requests waiting for a batch, and whose turn it is to take one. No task of
/// its own: the request that finds no batch under way takes the turn and leads the next batch in
/// its own task; once Redis has decided that batch, the turn goes to the oldest request still
/// waiting, whose task leads the following batch while the first one is being recorded. So a
/// burst moves with one Redis call and one store write per batch, each request is answered by
/// the task of its batch's leader, and nothing outlives the requests.
final class IssueQueue: Sendable {
    /// How a waiting request is woken: with its answer, or to lead the next batch.
    enum Turn: Sendable {
        case answered(Result<IssuedCoupon, any Error>)
        case lead
    }

    struct Waiting: Sendable {
        let request: IssueRequest
        let continuation: CheckedContinuation<Turn, Never>

        func answer(_ result: Result<IssuedCoupon, any Error>) {
            continuation.resume(returning: .answered(result))
        }
    }

    private let turns = Turns<Int64, Waiting>()

    /// Waits for the request's turn: its answer from another request's batch, or the lead of
    /// the next batch (at once, without suspending, when no batch is under way). A caller
    /// cancelled while still waiting is withdrawn and answered `CancellationError` (nothing was
    /// decided for it).
    func wait(_ request: IssueRequest, couponID: Int64) async -> Turn {
        await withTaskCancellationHandler {
            await turns.turn(couponID, lead: .lead) { Waiting(request: request, continuation: $0) }
        } onCancel: {
            turns.remove(couponID) { $0.request.id == request.id }?.answer(.failure(CancellationError()))
        }
    }

    /// For the leader: the oldest waiting requests, at most `limit`, to decide with its own.
    func take(couponID: Int64, upTo limit: Int) -> [Waiting] {
        turns.take(couponID, upTo: limit)
    }

    /// For the leader, once its batch is decided: the turn goes to the oldest waiting request,
    /// or, when none waits, no batch is under way any more.
    func passTurn(couponID: Int64) {
        turns.handOver(couponID, upTo: 1).first?.continuation.resume(returning: .lead)
    }
}
