import Synchronization

/// Callers that take turns per key: the first to arrive where no turn is under way leads at
/// once (it does not suspend); those who arrive meanwhile queue as waiters, and the leader hands
/// them over when its work is done — the shape of every "one call serves everyone waiting"
/// (a coupon's issue batches, a cache key's shared invalidations and loads). A key has an entry
/// exactly while a turn is under way; its list holds who waits.
public final class Turns<Key: Hashable & Sendable, Waiter: Sendable>: Sendable {
    private let waiting = Mutex<[Key: [Waiter]]>([:])

    public init() {}

    /// Waits for the caller's turn at `key`: `lead` at once, without suspending, when no turn is
    /// under way (the caller now leads one); otherwise the caller waits as the waiter `make`
    /// builds around its continuation, and gets what the leader resumes it with — or `lead`,
    /// when the turn ended before it could queue.
    public func turn<Value: Sendable>(
        _ key: Key, lead: Value, waiter make: (CheckedContinuation<Value, Never>) -> Waiter
    ) async -> Value {
        if startTurn(key) { return lead }
        return await withCheckedContinuation { continuation in
            let queued = waiting.withLock { waiting in
                guard waiting[key] != nil else {
                    waiting[key] = []
                    return false
                }
                waiting[key]!.append(make(continuation))
                return true
            }
            if !queued { continuation.resume(returning: lead) }
        }
    }

    /// For the leader: the oldest waiters, at most `limit`; the turn goes on.
    public func take(_ key: Key, upTo limit: Int) -> [Waiter] {
        remove(key, upTo: limit, endingTurnIfNone: false)
    }

    /// For the leader, done: the oldest waiters, at most `limit`, who carry the turn on; when
    /// none wait the turn ends (the next caller leads).
    public func handOver(_ key: Key, upTo limit: Int) -> [Waiter] {
        remove(key, upTo: limit, endingTurnIfNone: true)
    }

    /// For the leader, done: ends the turn and returns every waiter.
    public func end(_ key: Key) -> [Waiter] {
        waiting.withLock { $0.removeValue(forKey: key) ?? [] }
    }

    /// Removes the first waiter at `key` that matches, if it still waits.
    public func remove(_ key: Key, where matches: (Waiter) -> Bool) -> Waiter? {
        waiting.withLock { waiting in
            guard let index = waiting[key]?.firstIndex(where: matches) else { return nil }
            return waiting[key]!.remove(at: index)
        }
    }

    /// True when no turn was under way at `key`: one is now, led by the caller.
    private func startTurn(_ key: Key) -> Bool {
        waiting.withLock { waiting in
            guard waiting[key] == nil else { return false }
            waiting[key] = []
            return true
        }
    }

    private func remove(_ key: Key, upTo limit: Int, endingTurnIfNone: Bool) -> [Waiter] {
        waiting.withLock { waiting in
            let taken = Array((waiting[key] ?? []).prefix(limit))
            if taken.isEmpty && endingTurnIfNone {
                waiting[key] = nil
            } else {
                waiting[key]?.removeFirst(taken.count)
            }
            return taken
        }
    }
}
