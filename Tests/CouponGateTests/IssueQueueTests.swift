import Testing
@testable import CouponGate

@Suite struct IssueQueueTests {
    private func request(_ id: UInt64) -> IssueRequest {
        IssueRequest(id: id, userID: Int64(id), address: "", issuedAt: 0)
    }

    private func isLead(_ turn: IssueQueue.Turn) -> Bool {
        if case .lead = turn { true } else { false }
    }

    @Test func theFirstRequestLeadsAndTheTurnGoesToTheOldestWaiting() async throws {
        let queue = IssueQueue()
        #expect(isLead(await queue.wait(request(1), couponID: 7)))
        // A batch is under way: later requests wait.
        let second = Task { await queue.wait(request(2), couponID: 7) }
        try await Task.sleep(for: .milliseconds(20))
        let third = Task { await queue.wait(request(3), couponID: 7) }
        try await Task.sleep(for: .milliseconds(20))
        // Another coupon has its own turn.
        #expect(isLead(await queue.wait(request(4), couponID: 8)))

        queue.passTurn(couponID: 7)
        #expect(isLead(await second.value))
        let taken = queue.take(couponID: 7, upTo: 10)
        #expect(taken.map(\.request.id) == [3])
        for waiter in taken { waiter.answer(.failure(CancellationError())) }
        guard case .answered = await third.value else {
            Issue.record("the third request was not answered by the second's batch")
            return
        }
        // Nobody waits: the turn lapses, and the next request leads at once.
        queue.passTurn(couponID: 7)
        #expect(isLead(await queue.wait(request(5), couponID: 7)))
    }

    @Test func aCancelledWaitingRequestIsWithdrawnAndNeverTaken() async throws {
        let queue = IssueQueue()
        #expect(isLead(await queue.wait(request(1), couponID: 7)))
        let cancelled = Task { await queue.wait(request(2), couponID: 7) }
        let kept = Task { await queue.wait(request(3), couponID: 7) }
        try await Task.sleep(for: .milliseconds(50))
        cancelled.cancel()
        guard case .answered(.failure(let error)) = await cancelled.value else {
            Issue.record("the cancelled request was not answered")
            return
        }
        #expect(error is CancellationError)
        let taken = queue.take(couponID: 7, upTo: 10)
        #expect(taken.map(\.request.id) == [3])
        // Taken into a batch, a request is no longer withdrawn: it gets its batch's answer.
        kept.cancel()
        try await Task.sleep(for: .milliseconds(20))
        for waiter in taken { waiter.answer(.failure(RateLimited(retryAfter: .seconds(1)))) }
        guard case .answered(.failure(let answer)) = await kept.value else {
            Issue.record("the kept request was not answered")
            return
        }
        #expect(answer is RateLimited)
    }
}
