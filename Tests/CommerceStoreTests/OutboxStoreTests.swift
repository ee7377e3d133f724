import CommerceStore
import Testing

@Suite struct OutboxStoreTests {
    @Test(arguments: StoreKind.allCases)
    func everyOrderIsHandedOutInCommitOrderUntilItsSinkTookIt(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let item = try await store.item(price: 1, stock: 10_000)
            for user in 1...10 { _ = try await store.points.charge(userID: Int64(user), amount: 10_000, at: 1, idempotency: nil) }
            let placed = try await concurrently(200) { index in
                try await store.order(user: Int64(index % 10 + 1), [(item.itemID, 1)]).orderID
            }

            // Asked twice without a move: the same orders, as often as asked.
            let first = try await store.outbox.pending(sink: "a", limit: 120)
            #expect(first.cursor == 0)
            #expect(try await store.outbox.pending(sink: "a", limit: 120).orders == first.orders)
            #expect(try await store.outbox.backlog(sink: "a") == 200)

            var seen = first.orders.map(\.orderID)
            try await store.outbox.markSent(sink: "a", through: seen.last!, at: 2)
            let rest = try await store.outbox.pending(sink: "a", limit: 120)
            #expect(rest.cursor == seen.last)
            seen += rest.orders.map(\.orderID)
            try await store.outbox.markSent(sink: "a", through: seen.last!, at: 3)
            #expect(seen == seen.sorted() && Set(seen) == Set(placed))
            #expect(try await store.outbox.pending(sink: "a", limit: 120).orders.isEmpty)
            #expect(try await store.outbox.backlog(sink: "a") == 0)

            // Each sink has its own cursor; a cursor never moves back by a late mark, only by a rewind.
            #expect(try await store.outbox.backlog(sink: "b") == 200)
            try await store.outbox.markSent(sink: "a", through: seen[10], at: 4)
            #expect(try await store.outbox.cursor(sink: "a") == seen.last)
            try await store.outbox.rewind(sink: "a", to: seen[49], at: 5)
            let again = try await store.outbox.pending(sink: "a", limit: 500)
            #expect(again.cursor == seen[49])
            #expect(again.orders.map(\.orderID) == Array(seen[50...]))
            #expect(again.orders.allSatisfy { $0.items.count == 1 && $0.items[0].itemID == item.itemID })
        }
    }
}
