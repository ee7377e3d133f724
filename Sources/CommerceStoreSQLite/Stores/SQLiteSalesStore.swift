import CommerceStore

struct SQLiteSalesStore: SalesStore {
    let store: SQLiteStore

    func unitsSold(placedIn range: Range<Int64>) async throws -> (sums: [ItemUnits], lastPosition: Int64) {
        try await store.read { db in
            (try SalesLedger.unitsSold(db, placedIn: range), try SalesLedger.lastOrderID(db))
        }
    }

    func bestSellers(placedIn range: Range<Int64>, limit: Int) async throws -> [(item: Item, units: Int64)] {
        try await store.read { try SalesLedger.bestSellers($0, placedIn: range, limit: limit) }
    }
}
