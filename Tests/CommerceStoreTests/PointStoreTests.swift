import CommerceStore
import Testing

@Suite struct PointStoreTests {
    @Test(arguments: StoreKind.allCases)
    func chargesAddUpAndEachIsALedgerEntry(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            #expect(try await store.points.balance(userID: 1).balance == 0)
            _ = try await store.points.charge(userID: 1, amount: 300, at: 10, idempotency: nil)
            let after = try await store.points.charge(userID: 1, amount: 200, at: 20, idempotency: nil)
            #expect(after.value == PointBalance(userID: 1, balance: 500))
            #expect(try await store.points.balance(userID: 1).balance == 500)
            let history = try await store.points.history(userID: 1, limit: 10)
            #expect(history.map(\.amount) == [200, 300])
            #expect(history.map(\.balanceAfter) == [500, 300])
            #expect(history.allSatisfy { $0.kind == .charge && $0.orderID == nil })
            #expect(try await store.points.history(userID: 1, limit: 1).count == 1)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aChargePastTheLimitIsRefusedAndChangesNothing(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            _ = try await store.points.charge(userID: 1, amount: PointLimits.balance - 10, at: 10, idempotency: nil)
            let refused = try await store.points.charge(userID: 1, amount: 11, at: 20, idempotency: nil)
            #expect(refused.refusal == .balanceLimitExceeded)
            #expect(try await store.points.balance(userID: 1).balance == PointLimits.balance - 10)
            #expect(try await store.points.history(userID: 1, limit: 10).count == 1)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func concurrentOrdersNeverTakeABalanceBelowZero(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let item = try await store.item(price: 100, stock: 1_000)
            _ = try await store.points.charge(userID: 7, amount: 1_000, at: 10, idempotency: nil)
            let refusals = try await concurrently(40) { _ in
                await refusal { try await store.order(user: 7, [(item.itemID, 1)]) }
            }
            #expect(refusals.filter { $0 == nil }.count == 10)
            #expect(refusals.filter { $0 == .insufficientBalance }.count == 30)
            #expect(try await store.points.balance(userID: 7).balance == 0)
            let uses = try await store.points.history(userID: 7, limit: 100).filter { $0.kind == .use }
            #expect(uses.count == 10)
            #expect(Set(uses.map(\.balanceAfter)) == Set(stride(from: 0, to: 1_000, by: 100).map(Int64.init)))
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aRepeatedKeyReplaysTheFirstAnswerAndChargesOnce(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let results = try await concurrently(20) { _ in
                try await store.points.charge(userID: 3, amount: 50, at: 10, idempotency: idempotency("k1"))
            }
            let stored = results.compactMap { if case .stored(_, let response) = $0 { response } else { nil } }
            let replayed = results.compactMap { if case .replayed(let response) = $0 { response } else { nil } }
            #expect(stored.count == 1)
            #expect(replayed.count == 19)
            #expect(replayed.allSatisfy { $0 == stored.first })
            #expect(try await store.points.balance(userID: 3).balance == 50)

            let reused = await refusal {
                _ = try await store.points.charge(userID: 3, amount: 60, at: 20, idempotency: idempotency("k1", fingerprint: "other"))
            }
            #expect(reused == .idempotencyKeyReused)
            // Keys belong to a user: another user's same key is a new request.
            let other = try await store.points.charge(userID: 4, amount: 60, at: 20, idempotency: idempotency("k1"))
            #expect(other.value?.balance == 60)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func keysAreForgottenByAge(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            _ = try await store.points.charge(userID: 3, amount: 50, at: 10, idempotency: idempotency("old"))
            _ = try await store.points.charge(userID: 3, amount: 50, at: 30, idempotency: idempotency("new"))
            #expect(try await store.idempotencyKeys.forget(before: 20) == 1)
            let again = try await store.points.charge(userID: 3, amount: 50, at: 40, idempotency: idempotency("old"))
            #expect(again.value?.balance == 150)
            let replay = try await store.points.charge(userID: 3, amount: 50, at: 40, idempotency: idempotency("new"))
            #expect(replay.ran == nil)
        }
    }
}
