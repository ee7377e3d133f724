import ServiceLifecycle

/// Work that a request starts but that must outlive it or be shared beyond it (a coupon's batch
/// loop, a key's invalidation calls), run as child tasks of its owner's `run()` instead of as
/// unstructured `Task`s: on shutdown the owner's `run()` waits for every one of them.
///
/// Work submitted before ``run()`` starts waits for it; every piece of work accepted by
/// ``submit(_:)`` is started, even when `run()` is stopping; work submitted after `run()` stopped
/// taking work is refused (``submit(_:)`` returns false) and the caller must do without it.
public final class ServiceTasks: Sendable {
    private let queue = WorkQueue<@Sendable () async -> Void>()

    public init() {}

    /// Starts `work` as a child task of ``run()``; false once `run()` stopped taking work.
    public func submit(_ work: @escaping @Sendable () async -> Void) -> Bool {
        queue.append(work)
    }

    /// Runs the submitted work until graceful shutdown or cancellation, then waits for the work
    /// already accepted and returns. Call it once, from the owner's `run()`.
    public func run() async {
        await withDiscardingTaskGroup { group in
            await withGracefulShutdownHandler {
                await withTaskCancellationHandler {
                    while let batch = await queue.next(upTo: .max) {
                        for work in batch { group.addTask { await work() } }
                    }
                } onCancel: {
                    self.queue.stop()
                }
            } onGracefulShutdown: {
                self.queue.stop()
            }
        }
    }
}
