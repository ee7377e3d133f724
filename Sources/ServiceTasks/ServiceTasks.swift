import ServiceLifecycle
import Synchronization

/// Work that a request starts but that must outlive it or be shared beyond it (a coupon's batch
/// loop, a key's invalidation calls), run as child tasks of its owner's `run()` instead of as
/// unstructured `Task`s: on shutdown the owner's `run()` waits for every one of them.
///
/// Work submitted before ``run()`` starts waits for it; every piece of work accepted by
/// ``submit(_:)`` is started, even when `run()` is stopping; work submitted after `run()` stopped
/// taking work is refused (``submit(_:)`` returns false) and the caller must do without it.
public final class ServiceTasks: Sendable {
    private struct State: Sendable {
        var pending: [@Sendable () async -> Void] = []
        var wakeUp: CheckedContinuation<Void, Never>?
        var stopping = false
    }

    private let state = Mutex(State())

    public init() {}

    /// Starts `work` as a child task of ``run()``; false once `run()` stopped taking work.
    public func submit(_ work: @escaping @Sendable () async -> Void) -> Bool {
        let (accepted, waiter) = state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
            guard !state.stopping else { return (false, nil) }
            state.pending.append(work)
            defer { state.wakeUp = nil }
            return (true, state.wakeUp)
        }
        waiter?.resume()
        return accepted
    }

    /// Runs the submitted work until graceful shutdown or cancellation, then waits for the work
    /// already accepted and returns. Call it once, from the owner's `run()`.
    public func run() async {
        await withDiscardingTaskGroup { group in
            await withGracefulShutdownHandler {
                await withTaskCancellationHandler {
                    while let batch = await next() {
                        for work in batch { group.addTask { await work() } }
                    }
                } onCancel: {
                    self.stop()
                }
            } onGracefulShutdown: {
                self.stop()
            }
        }
    }

    /// Whatever was submitted, waiting for it if nothing was; nil once stopping with none left.
    private func next() async -> [@Sendable () async -> Void]? {
        while true {
            let taken = state.withLock { state -> [@Sendable () async -> Void]? in
                defer { state.pending = [] }
                return state.pending.isEmpty ? (state.stopping ? [] : nil) : state.pending
            }
            if let taken { return taken.isEmpty ? nil : taken }
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state in
                    guard state.pending.isEmpty && !state.stopping else { return true }
                    state.wakeUp = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
    }

    private func stop() {
        let waiter = state.withLock { state in
            state.stopping = true
            defer { state.wakeUp = nil }
            return state.wakeUp
        }
        waiter?.resume()
    }
}
