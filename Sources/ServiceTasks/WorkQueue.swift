import Synchronization

/// A queue that many callers append to and one consumer loop — a service's `run()` — drains in
/// batches, waiting when it is empty; stopped, it refuses new elements and hands out what is
/// left before it ends (the group-commit writer's requests).
public final class WorkQueue<Element: Sendable>: Sendable {
    private struct State: Sendable {
        var elements: [Element] = []
        var wakeUp: CheckedContinuation<Void, Never>?
        var stopping = false
    }

    private let state = Mutex(State())

    public init() {}

    /// Queues `element`; false once stopped (nothing was queued).
    public func append(_ element: Element) -> Bool {
        let (accepted, waiter) = state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
            guard !state.stopping else { return (false, nil) }
            state.elements.append(element)
            defer { state.wakeUp = nil }
            return (true, state.wakeUp)
        }
        waiter?.resume()
        return accepted
    }

    /// Up to `limit` queued elements, oldest first, or nil when none wait. Does not wait.
    public func take(upTo limit: Int) -> [Element]? {
        state.withLock { state in
            guard !state.elements.isEmpty else { return nil }
            let count = min(limit, state.elements.count)
            defer { state.elements.removeFirst(count) }
            return Array(state.elements.prefix(count))
        }
    }

    /// Up to `limit` queued elements, waiting for one if there are none; nil once stopped with
    /// nothing left. One consumer at a time.
    public func next(upTo limit: Int) async -> [Element]? {
        while true {
            if let taken = take(upTo: limit) { return taken }
            if state.withLock({ $0.stopping && $0.elements.isEmpty }) { return nil }
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state in
                    guard state.elements.isEmpty && !state.stopping else { return true }
                    state.wakeUp = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
    }

    /// Removes and returns the first queued element that matches, if any is still queued.
    public func remove(where matches: (Element) -> Bool) -> Element? {
        state.withLock { state in
            guard let index = state.elements.firstIndex(where: matches) else { return nil }
            return state.elements.remove(at: index)
        }
    }

    /// Refuses new elements from now on; ``next(upTo:)`` hands out the rest, then ends.
    public func stop() {
        let waiter = state.withLock { state in
            state.stopping = true
            defer { state.wakeUp = nil }
            return state.wakeUp
        }
        waiter?.resume()
    }
}
