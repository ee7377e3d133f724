import Dispatch
import Synchronization

/// Decides, once, whether a request got its connection before its deadline: the request's
/// ``begin()`` and the timer's ``expire()`` race, and exactly one of them wins.
final class LeaseDeadline: Sendable {
    private enum State { case waiting, begun, expired }
    private let state = Mutex(State.waiting)

    /// The connection arrived: true when the deadline has not passed (go ahead), false when it
    /// has (the caller was refused already; do nothing).
    func begin() -> Bool {
        state.withLock { state in
            guard state == .waiting else { return false }
            state = .begun
            return true
        }
    }

    var hasBegun: Bool { state.withLock { $0 == .begun } }

    /// The deadline passed: true when the request had not begun (refuse it), false when it had.
    func expire() -> Bool {
        state.withLock { state in
            guard state == .waiting else { return false }
            state = .expired
            return true
        }
    }
}

/// When the pool last handed out a connection: a pool that hands them out is busy, not stuck.
final class LeaseProgress: Sendable {
    private let last = Atomic<UInt64>(DispatchTime.now().uptimeNanoseconds)

    func recordLease() {
        last.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed)
    }

    func leasedWithin(_ duration: Duration) -> Bool {
        let (seconds, attoseconds) = duration.components
        let window = UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
        return DispatchTime.now().uptimeNanoseconds - last.load(ordering: .relaxed) < window
    }
}
