import ArgumentParser
import CommerceCore
import CommerceStore
import Logging
import RedisClient

struct Seed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create or migrate the database schema; with --demo, add sample data.",
        discussion: "Safe to run again: migrations apply once and demo data is added only to an empty database."
    )

    @OptionGroup var stores: StoreOptions

    @Flag(help: "Add sample items, coupons (also published to Redis), users 1-3 charged 500,000 points each, and their orders over the last three days.")
    var demo = false

    func run() async throws {
        let location = try stores.resolvedDatabase()
        let store = try await stores.openStore(location, logger: Logger(label: "commerce"))
        let redis = try stores.resolvedRedis().makeClient()
        defer { redis.shutdown() }
        // One run of the store (a driver runs once): what it pools lives while it runs.
        let summary = try await store.whileRunning { [demo] in
            print("schema ready in \(location): \(try await store.appliedMigrations().joined(separator: ", "))")
            return demo ? try await DemoData.seed(store: store, redis: redis) : nil
        }
        guard let summary else { return }
        if summary.added {
            print("demo data added: \(summary.items) items, \(summary.coupons) coupons, users 1-\(summary.users) charged 500,000 points each, \(summary.orders) orders over the last three days")
        } else {
            print("demo data already present: nothing added; \(summary.coupons) coupons published to Redis")
        }
    }
}
