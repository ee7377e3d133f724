import Foundation
import LuaScripts
import RedisClient
import Synchronization

/// Another reconcile run holds the lock (in this or another process), or this run lost it.
public struct ReconcileRunning: Error, CustomStringConvertible {
    public var description: String { "another reconcile run is in progress; try again when it has finished" }
}

/// One reconcile run at a time across processes: taken with a token (`lock-take.lua`), extended
/// while the run works and released at the end (by token, so a run whose lock expired cannot
/// release another run's).
///
/// A reply lost on the way back must not leave the lock held by nobody until it expires: a take
/// that fails releases what it may have taken, and a taker that keeps its token (the repair after
/// data loss, one look at a time) finds an earlier take of its own and holds it.
final class ReconcileLock: Sendable {
    static let key = "reconcile:lock"

    private let redis: any RedisClient
    private let token: String
    private let lifetime: Duration
    private let extendedAt: Mutex<ContinuousClock.Instant>

    private init(redis: any RedisClient, token: String, lifetime: Duration) {
        self.redis = redis
        self.token = token
        self.lifetime = lifetime
        self.extendedAt = Mutex(.now)
    }

    /// Takes the lock as `token`, waiting up to `patience` for another run to release it (looking
    /// four times a second); ``ReconcileRunning`` when another run still holds it. Only one task
    /// at a time may take with a given token.
    static func take(_ redis: any RedisClient, token: String = UUID().uuidString, lifetime: Duration,
                     patience: Duration = .zero) async throws -> ReconcileLock {
        let lock = ReconcileLock(redis: redis, token: token, lifetime: lifetime)
        let deadline = ContinuousClock.now + patience
        while true {
            let taken: Bool
            do {
                taken = try await redis.run(LuaScripts.lockTake, keys: [key],
                                            args: [RedisArgument(token), RedisArgument(milliseconds: lifetime)]).int == 1
            } catch {
                // The script may have run with its reply lost: what it took is let go.
                await lock.release()
                throw error
            }
            if taken { return lock }
            guard ContinuousClock.now + .milliseconds(250) < deadline else { throw ReconcileRunning() }
            try await Task.sleep(for: .milliseconds(250))
        }
    }

    /// Extends the lock once a third of its lifetime has passed since the last extension;
    /// throws ``ReconcileRunning`` if it was lost (the run stalled past the lifetime and another
    /// may have started).
    func extendIfDue() async throws {
        let now = ContinuousClock.now
        guard extendedAt.withLock({ now - $0 > lifetime / 3 }) else { return }
        let reply = try await redis.run(LuaScripts.lockExtend, keys: [Self.key],
                                        args: [RedisArgument(token), RedisArgument(milliseconds: lifetime)])
        guard reply.int == 1 else { throw ReconcileRunning() }
        extendedAt.withLock { $0 = now }
    }

    func release() async {
        _ = try? await redis.run(LuaScripts.lockRelease, keys: [Self.key], args: [RedisArgument(token)])
    }
}
