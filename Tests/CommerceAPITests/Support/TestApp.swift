import BearerTokens
import CommerceStore
@testable import CommerceStoreSQLite
import Foundation
import GRDB
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import TestSupport
@testable import CommerceAPI
@testable import CommerceCore
import RedisClient
import CouponGate
import Ranking

/// The service under test, live over HTTP on a free port, with a real database (a fresh SQLite
/// file, or a fresh PostgreSQL database: ``TestDatabase``), a real Redis, the store's writers
/// and the outbox relays running.
struct TestApp: Sendable {
    let client: any TestClientProtocol
    let database: any StoreDriver
    /// The database as `--db` names it (a path or a postgres:// URL).
    let databasePath: String
    /// The test's own SQL on the database.
    let sql: TestSQL
    /// A scratch folder of the test's own (logs of processes it starts).
    let directory: URL
    let redisServer: any TestRedis
    let redis: any RedisClient
    let coupons: CouponIssuer
    let dataGuard: RedisDataGuard
    let ranking: SalesRanking
    let reconciler: Reconciler
    /// The service's routes as `METHOD /path/{param}`, without the test's extra ones.
    let routes: [String]
    let metrics: CommerceMetrics
    /// Between the service and Redis, when the test asked for one (`redisProxy`).
    let proxy: FaultProxy?
    /// Between the service and PostgreSQL, when the test asked for one (`databaseProxy`).
    let databaseProxy: FaultProxy?

    /// A fresh connection to the same server, for tests that need many.
    func connection() -> TestClient {
        let client = TestClient(host: "127.0.0.1", port: self.client.port!)
        client.connect()
        return client
    }
}

/// Runs `body` against the real router, served live, over a fresh database and Redis.
func withTestApp<T>(
    now: @escaping @Sendable () -> Int64 = Timestamp.now,
    timeZone: TimeZone = TimeZone(identifier: "UTC")!,
    busyTimeout: TimeInterval = 5,
    issueLimits: IssueRateLimits = .off,
    trustedProxies: TrustedProxies = .none,
    redisCheckInterval: Duration = .milliseconds(250),
    authentication: AuthenticationMode? = nil,
    extraRoutes: (Router<CommerceRequestContext>) -> Void = { _ in },
    redisProxy: Bool = false,
    databaseProxy: Bool = false,
    _ body: @escaping @Sendable (TestApp) async throws -> T
) async throws -> T {
    try await withTestRedis { server async throws in
        try await withTemporaryDirectory { directory async throws in
            let databaseProxy: FaultProxy? = if databaseProxy, TestDatabase.isPostgres {
                try await FaultProxy.start(to: try await PostgresServer.shared().port)
            } else { nil }
            let (database, path, sql) = try await TestDatabase.open(in: directory, busyTimeout: busyTimeout, through: databaseProxy)
            let dataGuard = RedisDataGuard(logger: Logger(label: "test"))
            // A fault proxy fronts one server: a cluster client would learn the nodes' own
            // addresses and go around it.
            let proxy: FaultProxy? = if redisProxy, let single = server as? RedisServer {
                try await FaultProxy.start(to: single.port)
            } else { nil }
            let redis: any RedisClient = if let proxy {
                RedisNodeClient(configuration: RedisConfiguration(host: "127.0.0.1", port: proxy.port, poolSize: 4,
                                                                  commandTimeout: .milliseconds(500)), dataGuard: dataGuard)
            } else {
                server.client(dataGuard: dataGuard)
            }
            defer { redis.shutdown() }
            let authentication: AuthenticationMode = if let authentication { authentication } else { .tokens(try await TestTokens.verifier()) }
            let dependencies = AppDependencies(store: database, redis: redis, dataGuard: dataGuard, authentication: authentication,
                                               issueLimits: issueLimits, trustedProxies: trustedProxies, timeZone: timeZone, now: now,
                                               redisCheckInterval: redisCheckInterval)
            let router = buildRouter(dependencies)
            let routes = router.routes.map { "\($0.method) \($0.path)" }
            extraRoutes(router)
            var app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
            app.addServices(dependencies.core.services(logger: app.logger))
            app.beforeServerStarts { await dependencies.core.prepareRedis() }
            defer {
                for proxy in [proxy, databaseProxy].compactMap({ $0 }) { Task { await proxy.stop() } }
            }
            return try await app.test(.live) { client in
                // A fresh Redis is not trusted until the service has verified and "repaired" it
                // (nothing to restore): what every test expects to start from.
                try await waitFor { dataGuard.isTrusted }
                return try await body(TestApp(client: client, database: database, databasePath: path, sql: sql, directory: directory,
                                       redisServer: server,
                                       redis: redis, coupons: dependencies.core.coupons, dataGuard: dataGuard, ranking: dependencies.core.ranking,
                                       reconciler: dependencies.core.reconciler, routes: routes, metrics: dependencies.core.metrics,
                                       proxy: proxy, databaseProxy: databaseProxy))
            }
        }
    }
}

/// Polls `condition` every 50 ms until it holds, for at most 10 s (the caller then asserts).
func waitFor(_ condition: () async throws -> Bool) async throws {
    for _ in 0..<200 {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
}

/// A settable clock for the service (milliseconds since the epoch).
final class ManualClock: Sendable {
    private let value: Atomic<Int64>

    init(_ start: Timestamp) { value = Atomic(start.milliseconds) }

    var now: @Sendable () -> Int64 { { self.value.load(ordering: .relaxed) } }

    func set(_ time: Timestamp) { value.store(time.milliseconds, ordering: .relaxed) }
}

/// A response, read whole.
struct Reply: Sendable {
    var status: HTTPResponse.Status
    var headers: HTTPFields
    var body: ByteBuffer

    /// The body as a JSON object ([:] if it is not one).
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] ?? [:]
    }

    var code: String? { json["code"] as? String }
    var detail: String { json["detail"] as? String ?? "" }
    var text: String { String(buffer: body) }
}

/// The `POST /orders` body for `user` buying `lines`.
func orderBody(user: Int64, _ lines: [(item: Int64, quantity: Int)]) -> String {
    let items = lines.map { #"{"item_id": \#($0.item), "quantity": \#($0.quantity)}"# }.joined(separator: ", ")
    return #"{"user_id": \#(user), "items": [\#(items)]}"#
}

func json(_ buffer: ByteBuffer) throws -> [String: Any] {
    try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any] ?? [:]
}

/// `headers` with `Authorization: Bearer <token>` added (nil: no token), unless it has one.
private func authorized(_ headers: HTTPFields, _ token: String?) -> HTTPFields {
    guard let token, headers[.authorization] == nil else { return headers }
    var headers = headers
    headers[.authorization] = "Bearer \(token)"
    return headers
}

extension TestClientProtocol {
    /// One request, by default with an admin token (`token: nil` sends none).
    func call(_ method: HTTPRequest.Method, _ uri: String, _ body: String? = nil, headers: HTTPFields = [:],
              token: String? = TestTokens.admin) async throws -> Reply {
        try await execute(uri: uri, method: method, headers: authorized(headers, token), body: body.map { ByteBuffer(string: $0) }) { response in
            Reply(status: response.status, headers: response.headers, body: response.body)
        }
    }
}

extension TestClient {
    /// One request, by default with an admin token (`token: nil` sends none).
    func call(_ method: HTTPRequest.Method, _ uri: String, _ body: String? = nil, headers: HTTPFields = [:],
              token: String? = TestTokens.admin) async throws -> Reply {
        let response = try await execute(.init(uri, method: method, headers: authorized(headers, token), body: body.map { ByteBuffer(string: $0) }))
        return Reply(status: response.status, headers: response.headers, body: response.body ?? ByteBuffer())
    }
}

extension TestApp {
    /// Creates an item through the admin route and returns its id.
    func createItem(name: String = "Thing", price: Int64, stock: Int64) async throws -> Int64 {
        let reply = try await client.call(.post, "/admin/items", #"{"name": "\#(name)", "price": \#(price), "stock": \#(stock)}"#)
        guard reply.status == .created, let id = reply.json["item_id"] as? Int64 else {
            throw TestSupportError("creating an item failed: \(reply.status) \(reply.text)")
        }
        return id
    }

    /// Creates `count` items named "Item 1", "Item 2", ...; returns their ids in order.
    func createItems(_ count: Int, price: Int64, stock: Int64) async throws -> [Int64] {
        var ids: [Int64] = []
        for n in 1...count { ids.append(try await createItem(name: "Item \(n)", price: price, stock: stock)) }
        return ids
    }

    /// Charges points through the route.
    func charge(user: Int64, _ amount: Int64) async throws {
        let reply = try await client.call(.post, "/points/charge", #"{"user_id": \#(user), "amount": \#(amount)}"#)
        guard reply.status == .ok else { throw TestSupportError("charging failed: \(reply.status) \(reply.text)") }
    }

    /// Gives `user` a coupon directly in the database (issuance over HTTP is the coupon gate's job).
    func grantCoupon(user: Int64, type: String, value: Int64, validFrom: Int64 = 0, validUntil: Int64 = Int64(4e12)) async throws -> Int64 {
        let coupon = try await database.coupons.create(NewCoupon(
            name: "test coupon", discountType: DiscountType(rawValue: type)!, discountValue: value, stock: 10,
            validFrom: Timestamp(milliseconds: validFrom), validUntil: Timestamp(milliseconds: validUntil)), at: 0)
        _ = try await database.coupons.recordIssues(couponID: coupon.couponID, [Issuance(userID: user, issuedAt: 0)]).first?.get()
        return coupon.couponID
    }

    /// Gives `user` a balance directly (no ledger entry), e.g. one near the 10^13 limit.
    func setBalance(of user: Int64, to balance: Int64) async throws {
        try await sql.execute("INSERT INTO users (id, created_at) VALUES (\(user), 0) ON CONFLICT (id) DO NOTHING")
        try await sql.execute("""
            INSERT INTO user_point (user_id, balance, updated_at) VALUES (\(user), \(balance), 0)
            ON CONFLICT (user_id) DO UPDATE SET balance = excluded.balance
            """)
    }

    /// Places an order through the route; returns the reply (201 or a refusal).
    func order(user: Int64, _ lines: [(item: Int64, quantity: Int)]) async throws -> Reply {
        try await client.call(.post, "/orders", orderBody(user: user, lines))
    }

    func stock(of itemID: Int64) async throws -> Int64 {
        try await sql.int("SELECT stock FROM items WHERE id = \(itemID)") ?? -1
    }

    func balance(of user: Int64) async throws -> Int64 {
        try await database.points.balance(userID: user).balance
    }

    /// The sum of the user's ledger entries (which must equal the balance).
    func ledgerSum(of user: Int64) async throws -> Int64 {
        try await sql.int("SELECT COALESCE(SUM(amount), 0) FROM point_history WHERE user_id = \(user)") ?? 0
    }
}
