import Foundation
import GRDB
import Testing
import TestSupport
@testable import CommerceStore
@testable import CommerceStoreSQLite

private struct RefusedWrite: Error {}

@Suite struct GroupCommitWriterTests {
    /// Runs the writer's service loop around `body`, as `serve` does, and stops it afterwards.
    private func withRunningWriter<T: Sendable>(
        maxBatch: Int = 512,
        _ body: @escaping @Sendable (SQLiteStore) async throws -> T
    ) async throws -> T {
        try await withTemporaryDirectory { directory async throws in
            let database = try SQLiteStore(path: directory.appendingPathComponent("c.sqlite").path, maxBatch: maxBatch)
            return try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask { try await database.writer.run(); return nil }
                let result = try await body(database)
                database.writer.stop()
                try await group.waitForAll()
                return result
            }
        }
    }

    @Test func thousandConcurrentWritesWithOneFailureLeaveExactlyTheOthers() async throws {
        let failing = 437
        let (outcomes, stored, transactions) = try await withRunningWriter { database async throws in
            let outcomes = await withTaskGroup(of: (Int, Bool).self) { group in
                for id in 1...1_000 {
                    group.addTask {
                        do {
                            try await database.write { db in
                                try db.execute(sql: "INSERT INTO users (id, created_at) VALUES (?, 0)", arguments: [id])
                                // Fails after writing: its own insert must be rolled back, and only it.
                                if id == failing { throw RefusedWrite() }
                            }
                            return (id, true)
                        } catch {
                            return (id, false)
                        }
                    }
                }
                return await group.reduce(into: [Int: Bool]()) { $0[$1.0] = $1.1 }
            }
            let stored = try await database.read { try Int.fetchAll($0, sql: "SELECT id FROM users ORDER BY id") }
            return (outcomes, stored, database.writer.committedTransactions)
        }
        #expect(outcomes.filter { !$0.value }.map(\.key) == [failing])
        #expect(stored == Array(1...1_000).filter { $0 != failing })
        #expect(transactions < 1_000, "concurrent writes share transactions (\(transactions) for 1,000 writes)")
    }

    @Test func aConstraintViolationRollsBackOnlyItsOwnRequest() async throws {
        let stored = try await withRunningWriter { database async throws in
            try await database.write { db in try db.execute(sql: "INSERT INTO users (id, created_at) VALUES (1, 0)") }
            let duplicate = Task {
                try await database.write { db in
                    try db.execute(sql: "INSERT INTO users (id, created_at) VALUES (2, 0)")
                    try db.execute(sql: "INSERT INTO users (id, created_at) VALUES (1, 0)")
                }
            }
            let fine = Task { try await database.write { db in try db.execute(sql: "INSERT INTO users (id, created_at) VALUES (3, 0)") } }
            await #expect(throws: DatabaseError.self) { try await duplicate.value }
            try await fine.value
            return try await database.read { try Int.fetchAll($0, sql: "SELECT id FROM users ORDER BY id") }
        }
        #expect(stored == [1, 3])
    }

    @Test func withGroupCommitOffEveryWriteHasItsOwnTransaction() async throws {
        let transactions = try await withRunningWriter(maxBatch: 1) { database async throws in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for id in 1...50 {
                    group.addTask { try await database.write { db in try db.execute(sql: "INSERT INTO users (id, created_at) VALUES (?, 0)", arguments: [id]) } }
                }
                try await group.waitForAll()
            }
            return database.writer.committedTransactions
        }
        #expect(transactions == 50)
    }

    @Test func afterStopQueuedWritesAreCommittedAndNewOnesRefused() async throws {
        try await withTemporaryDirectory { directory async throws in
            let database = try SQLiteStore(path: directory.appendingPathComponent("c.sqlite").path)
            // Queue writes before the loop runs, then stop: they must still be committed.
            let queued = Task { try await database.write { db in try db.execute(sql: "INSERT INTO users (id, created_at) VALUES (7, 0)") } }
            try await Task.sleep(for: .milliseconds(50))
            database.writer.stop()
            try await database.writer.run()
            try await queued.value
            let error = await #expect(throws: StoreError.self) {
                try await database.write { db in try db.execute(sql: "INSERT INTO users (id, created_at) VALUES (8, 0)") }
            }
            #expect(error?.code == .closed)
            #expect(try await database.read { try Int.fetchAll($0, sql: "SELECT id FROM users") } == [7])
        }
    }

    @Test func aCancelledWriteThatStillWaitsIsWithdrawnAndNeverRuns() async throws {
        try await withTemporaryDirectory { directory async throws in
            let database = try SQLiteStore(path: directory.appendingPathComponent("c.sqlite").path)
            // The loop does not run yet, so both writes wait in the queue; one caller gives up.
            let withdrawn = Task { try await database.write { db in try db.execute(sql: "INSERT INTO users (id, created_at) VALUES (1, 0)") } }
            let kept = Task { try await database.write { db in try db.execute(sql: "INSERT INTO users (id, created_at) VALUES (2, 0)") } }
            try await Task.sleep(for: .milliseconds(50))
            withdrawn.cancel()
            await #expect(throws: CancellationError.self) { try await withdrawn.value }
            database.writer.stop()
            try await database.writer.run()
            try await kept.value
            #expect(try await database.read { try Int.fetchAll($0, sql: "SELECT id FROM users") } == [2])
        }
    }
}
