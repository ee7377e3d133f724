import CommerceStore
import Testing

@Suite struct ItemStoreTests {
    @Test(arguments: StoreKind.allCases)
    func itemsAreCreatedChangedAndPagedById(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            var ids: [Int64] = []
            for n in 1...5 { ids.append(try await store.items.create(name: "Item \(n)", price: 10 * Int64(n), stock: 3, at: 1).itemID) }
            #expect(ids == ids.sorted() && Set(ids).count == 5)
            let changed = try await store.items.update(itemID: ids[1], name: nil, price: 99, stock: nil, at: 2)
            #expect(changed == Item(itemID: ids[1], name: "Item 2", price: 99, stock: 3))
            #expect(try await store.items.item(ids[1]) == changed)
            #expect(try await store.items.page(afterID: 0, limit: 2).map(\.itemID) == Array(ids[0..<2]))
            #expect(try await store.items.page(afterID: ids[1], limit: 10).map(\.itemID) == Array(ids[2...]))
        }
    }

    @Test(arguments: StoreKind.allCases)
    func deletedItemsAreInvisibleAndCannotBeChanged(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let kept = try await store.item(price: 1, stock: 1)
            let gone = try await store.item(price: 1, stock: 1)
            try await store.items.delete(itemID: gone.itemID, at: 5)
            #expect(try await store.items.item(gone.itemID) == nil)
            #expect(try await store.items.page(afterID: 0, limit: 10) == [kept])
            #expect(try await store.items.live([kept.itemID, gone.itemID, 999]) == [kept.itemID: kept])
            #expect(await refusal { try await store.items.delete(itemID: gone.itemID, at: 6) } == .itemNotFound)
            #expect(await refusal { _ = try await store.items.update(itemID: gone.itemID, name: "x", price: nil, stock: nil, at: 6) } == .itemNotFound)
            #expect(await refusal { try await store.order(user: 1, [(gone.itemID, 1)]) } == .itemNotFound)
        }
    }
}
