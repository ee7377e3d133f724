import CommerceStore
import Logging
import ServiceLifecycle

/// Forgets idempotency keys once they are older than ``retention`` (the contract promises at
/// least 24 hours), so the table does not grow without bound.
struct IdempotencyKeyPruner: Service {
    static let retention: Duration = .seconds(48 * 3600)

    let keys: any IdempotencyKeyStore
    let logger: Logger
    let now: @Sendable () -> Int64
    var interval: Duration = .seconds(600)

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let cutoff = now() - Self.retention.components.seconds * 1000
                    let forgotten = try await keys.forget(before: cutoff)
                    if forgotten > 0 { logger.info("forgot \(forgotten) idempotency keys older than 48 hours") }
                } catch {
                    logger.warning("could not prune idempotency keys; will try again", metadata: ["error": "\(error)"])
                }
                // Cancelled (shutdown): return normally, a service that throws fails its group.
                guard (try? await Task.sleep(for: interval)) != nil else { return }
            }
        }
    }
}
