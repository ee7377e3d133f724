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
            #expect(try await store.outbox.pending(sink: "a", limit: 120).entries == first.entries)
            #expect(try await store.outbox.backlog(sink: "a") == 200)

            var seen = first.entries.map(\.order.orderID)
            var positions = first.entries.map(\.position)
            try await store.outbox.markSent(sink: "a", through: positions.last!, at: 2)
            let rest = try await store.outbox.pending(sink: "a", limit: 120)
            #expect(rest.cursor == positions.last)
            seen += rest.entries.map(\.order.orderID)
            positions += rest.entries.map(\.position)
            try await store.outbox.markSent(sink: "a", through: positions.last!, at: 3)
            #expect(positions == positions.sorted() && Set(positions).count == 200 && Set(seen) == Set(placed))
            #expect(try await store.outbox.pending(sink: "a", limit: 120).entries.isEmpty)
            #expect(try await store.outbox.backlog(sink: "a") == 0)

            // Each sink has its own cursor; a cursor never moves back by a late mark, only by a rewind.
            #expect(try await store.outbox.backlog(sink: "b") == 200)
            try await store.outbox.markSent(sink: "a", through: positions[10], at: 4)
            #expect(try await store.outbox.cursor(sink: "a") == positions.last)
            try await store.outbox.rewind(sink: "a", to: positions[49], at: 5)
            let again = try await store.outbox.pending(sink: "a", limit: 500)
            #expect(again.cursor == positions[49])
            #expect(again.entries.map(\.order.orderID) == Array(seen[50...]))
            #expect(again.entries.allSatisfy { $0.order.items.count == 1 && $0.order.items[0].itemID == item.itemID })
        }
    }
}
