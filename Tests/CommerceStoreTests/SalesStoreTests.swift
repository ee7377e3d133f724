import CommerceStore
import Testing

@Suite struct SalesStoreTests {
    @Test(arguments: StoreKind.allCases)
    func unitsSoldCountOrdersPlacedInTheRangeUpToTheirPosition(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let a = try await store.item(price: 1, stock: 100)
            let b = try await store.item(price: 1, stock: 100)
            _ = try await store.points.charge(userID: 1, amount: 1_000, at: 1, idempotency: nil)
            try await store.order(user: 1, [(a.itemID, 2)], at: 999)  // before the range
            try await store.order(user: 1, [(a.itemID, 3), (b.itemID, 1)], at: 1_000)
            let last = try await store.order(user: 1, [(b.itemID, 4)], at: 1_999)
            try await store.order(user: 1, [(a.itemID, 5)], at: 2_000)  // after it
            let snapshot = try await store.sales.unitsSold(placedIn: 1_000..<2_000)
            #expect(snapshot.sums == [ItemUnits(itemID: a.itemID, units: 3), ItemUnits(itemID: b.itemID, units: 5)])
            // Every committed order is at or below the position (the newest of all, not of the range).
            let entries = try await store.outbox.pending(sink: "s", limit: 10).entries
            #expect(entries.map(\.order.orderID).contains(last.orderID))
            #expect(entries.allSatisfy { $0.position <= snapshot.lastPosition })
        }
    }

    @Test(arguments: StoreKind.allCases)
    func bestSellersAreLiveItemsByUnitsThenSmallerId(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            var items: [Item] = []
            for _ in 1...4 { items.append(try await store.item(price: 1, stock: 100)) }
            _ = try await store.points.charge(userID: 1, amount: 1_000, at: 1, idempotency: nil)
            try await store.order(user: 1, [(items[0].itemID, 2), (items[1].itemID, 5), (items[2].itemID, 2), (items[3].itemID, 9)])
            try await store.items.delete(itemID: items[3].itemID, at: 3)
            let best = try await store.sales.bestSellers(placedIn: 0..<10_000, limit: 2)
            #expect(best.map(\.item.itemID) == [items[1].itemID, items[0].itemID])
            #expect(best.map(\.units) == [5, 2])
        }
    }
}
