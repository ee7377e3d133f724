import CommerceStore
import CommerceStorePostgres
import CommerceStoreSQLite
import Foundation
import Logging
import Testing
import TestSupport

/// The drivers every store contract test runs against. A new driver adds itself here, with how
/// to open a fresh, empty store of its kind.
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    /// A fresh database on the test process's shared PostgreSQL server.
    case postgres

    var testDescription: String { rawValue }

    /// Runs `body` against a fresh, empty, running store of this kind, stopped afterwards.
    func withStore<T: Sendable>(_ body: @Sendable (any StoreDriver) async throws -> T) async throws -> T {
        try await withTemporaryDirectory { directory async throws in
            let store: any StoreDriver = switch self {
            case .sqlite: try SQLiteStore(path: directory.appendingPathComponent("store.sqlite").path)
            case .postgres:
                try await PostgresServer.shared().freshStore()
            }
            return try await store.whileRunning { try await body(store) }
        }
    }

    /// Runs `body` against `count` running stores of this kind on one fresh database (each with
    /// its own connections and writer, as separate processes have).
    func withStores<T: Sendable>(_ count: Int, _ body: @Sendable ([any StoreDriver]) async throws -> T) async throws -> T {
        try await withTemporaryDirectory { directory async throws in
            var stores: [any StoreDriver] = []
            switch self {
            case .sqlite:
                let path = directory.appendingPathComponent("store.sqlite").path
                for _ in 0..<count { stores.append(try SQLiteStore(path: path)) }
            case .postgres:
                let server = try await PostgresServer.shared()
                let url = server.url(database: try server.freshDatabase())
                for _ in 0..<count { stores.append(try await PostgresStore(url: url, logger: Logger(label: "test"))) }
            }
            let running = stores
            return try await withThrowingTaskGroup(of: Void.self) { group in
                for store in running { group.addTask { try await store.run() } }
                defer { group.cancelAll() }
                return try await body(running)
            }
        }
    }
}

/// Runs `count` tasks at once and returns their results (in no particular order).
func concurrently<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) async throws -> T) async throws -> [T] {
    try await withThrowingTaskGroup(of: T.self) { group in
        for index in 0..<count { group.addTask { try await body(index) } }
        return try await group.reduce(into: []) { $0.append($1) }
    }
}

/// The refusal code a call threw, or nil when it threw nothing (any other error is a failure).
func refusal(_ body: () async throws -> Void) async -> CommerceError.Code? {
    do {
        try await body()
        return nil
    } catch let error as CommerceError {
        return error.code
    } catch {
        Issue.record("neither done nor refused: \(error)")
        return nil
    }
}

extension IdempotentResult {
    /// What the write did now; nil for a replay.
    var ran: Result<Value, CommerceError>? {
        switch self {
        case .done(let result), .stored(let result, _): result
        case .replayed: nil
        }
    }

    var value: Value? { try? ran?.get() }

    /// The refusal the write ran into now; nil for a success or a replay.
    var refusal: CommerceError.Code? {
        if case .failure(let error) = ran { error.code } else { nil }
    }
}

/// An idempotency request whose stored response is the value's description (or the refusal's
/// code) under status 200 (or 409).
func idempotency<Value: Sendable>(_ key: String, fingerprint: String = "same") -> IdempotencyRequest<Value> {
    IdempotencyRequest(key: key, fingerprint: fingerprint) { result in
        switch result {
        case .success(let value): StoredResponse(status: 200, body: Array("\(value)".utf8))
        case .failure(let refusal): StoredResponse(status: 409, body: Array(refusal.code.name.utf8))
        }
    }
}

extension StoreDriver {
    /// A live item with this stock and price.
    func item(price: Int64, stock: Int64) async throws -> Item {
        try await items.create(name: "Item", price: price, stock: stock, at: 1_000)
    }

    /// A coupon valid from 0 to 10^13 ms.
    func coupon(_ type: DiscountType = .fixed, value: Int64 = 1_000, stock: Int64 = 100) async throws -> Coupon {
        try await coupons.create(NewCoupon(name: "Coupon", discountType: type, discountValue: value, stock: stock,
                                           validFrom: Timestamp(milliseconds: 0),
                                           validUntil: Timestamp(milliseconds: 10_000_000_000_000)), at: 1_000)
    }

    /// Places an order of one line without a key; the order, or the refusal thrown.
    @discardableResult
    func order(user: Int64, _ lines: [(item: Int64, quantity: Int64)], coupon: Int64? = nil, at now: Int64 = 2_000) async throws -> Order {
        let result = try await orders.place(
            NewOrder(userID: user, lines: lines.map { NewOrder.Line(itemID: $0.item, quantity: $0.quantity) }, couponID: coupon),
            at: now, idempotency: nil)
        return try result.ran!.get()
    }
}

extension PostgresServer {
    /// A running-to-be store on a fresh database of this server.
    func freshStore() async throws -> PostgresStore {
        try await PostgresStore(url: url(database: try freshDatabase()), logger: Logger(label: "test"))
    }
}
