import CommerceStore
import Hummingbird
import RedisClient

/// `/health/live` (the process runs) and `/health/ready` (its dependencies answer).
struct HealthController {
    let store: any StoreDriver
    let redis: any RedisClient
    let dataGuard: RedisDataGuard

    func addRoutes(to router: some RouterMethods<CommerceRequestContext>) {
        router.get("/health/live") { _, _ in
            ["status": "ok"]
        }
        router.get("/health/ready") { _, _ in
            try await ready()
        }
    }

    private func ready() async throws -> [String: String] {
        async let storeUp = store.isReachable()
        async let redisError = redisFailure()
        var checks = [store.name: await storeUp ? "ok" : "unreachable"]
        if let error = await redisError {
            checks["redis"] = error
        } else {
            // It answers, but its data may have been lost: issuing waits for the repair.
            checks["redis"] = dataGuard.isTrusted ? "ok" : "repairing"
        }
        let failed = checks.filter { $0.value != "ok" }.keys.sorted()
        guard failed.isEmpty else {
            var problem = Problem.serviceUnavailable("not ready: \(failed.map { "\($0) \(checks[$0]!)" }.joined(separator: ", "))")
            problem.extensions["checks"] = checks
            throw problem
        }
        return ["status": "ok", store.name: "ok", "redis": "ok"]
    }

    /// Why Redis is not answering PING, or nil when it is.
    private func redisFailure() async -> String? {
        do {
            try await redis.send("PING")
            return nil
        } catch let error as RedisError {
            return "unreachable (\(error.code))"
        } catch {
            return "unreachable"
        }
    }
}
