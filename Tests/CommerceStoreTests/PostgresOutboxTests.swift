import CommerceStore
import CommerceStorePostgres
import Foundation
import Logging
import Testing
import TestSupport

/// The hazard the PostgreSQL outbox is built against: with two writers, a smaller order id can
/// commit after a larger one. A relay that passed the larger would never see the smaller.
@Suite(.enabled(if: PostgresServer.isInstalled, "needs PostgreSQL")) struct PostgresOutboxTests {
    @Test func anOrderCommittedWhileAnOlderTransactionIsOpenWaitsForIt() async throws {
        let server = try await PostgresServer.shared()
        let database = try server.freshDatabase()
        let store = try await PostgresStore(url: server.url(database: database), logger: Logger(label: "test"))
        try await store.whileRunning {
            let item = try await store.items.create(name: "Item", price: 1, stock: 100, at: 1)
            _ = try await store.points.charge(userID: 2, amount: 100, at: 1, idempotency: nil)
            // Another process's order: it takes the next order id, then stays uncommitted for a while.
            try await withTemporaryDirectory { directory in
                let slow = try server.psqlInBackground("""
                    BEGIN;
                    INSERT INTO users (id, created_at) VALUES (1, 1);
                    INSERT INTO orders (user_id, status, subtotal, discount, total, balance_after, ordered_at)
                        VALUES (1, 'PAID', 0, 0, 0, 0, 1);
                    SELECT pg_sleep(1.5);
                    COMMIT;
                    """, database: database, logFile: directory.appendingPathComponent("psql.log"))
                try await Task.sleep(for: .milliseconds(500))
                let later = try await store.orders.place(NewOrder(userID: 2, lines: [.init(itemID: item.itemID, quantity: 1)], couponID: nil),
                                                         at: 2, idempotency: nil).ran!.get()

                // Committed, with the larger id, but not handed out while the older transaction is open.
                #expect(try await store.orders.order(later.orderID) != nil)
                #expect(try await store.outbox.pending(sink: "s", limit: 10).entries.isEmpty)

                #expect(await slow.waitForExit() == 0, "the slow transaction committed")
                let entries = try await store.outbox.pending(sink: "s", limit: 10).entries
                #expect(entries.map(\.order.orderID) == [later.orderID - 1, later.orderID], "both, the older transaction's first")
                #expect(entries[0].position < entries[1].position)
            }
        }
    }
}
