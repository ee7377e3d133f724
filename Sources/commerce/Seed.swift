import ArgumentParser
import CommerceAPI
import CommerceStore
import RedisClient

struct Seed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create or migrate the database schema; with --demo, add sample data.",
        discussion: "Safe to run again: migrations apply once and demo data is added only to an empty database."
    )

    @OptionGroup var stores: StoreOptions

    @Flag(help: "Add sample items, coupons (also published to Redis) and users 1-3 with 100,000 points each.")
    var demo = false

    func run() async throws {
        let path = try stores.resolvedDatabasePath()
        let database = try CommerceDatabase(path: path)
        print("schema ready in \(path): \(try await database.appliedMigrations().joined(separator: ", "))")
        guard demo else { return }
        let redis = RedisClient(configuration: try stores.resolvedRedis())
        defer { redis.shutdown() }
        let summary = try await DemoData.seed(database: database, redis: redis)
        if summary.added {
            print("demo data added: \(summary.items) items, \(summary.coupons) coupons, users 1-\(summary.users) with 100,000 points each")
        } else {
            print("demo data already present: nothing added; \(summary.coupons) coupons published to Redis")
        }
    }
}
