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

    /// The deadline passed: true when the request had not begun (refuse it), false when it had.
    func expire() -> Bool {
        state.withLock { state in
            guard state == .waiting else { return false }
            state = .expired
            return true
        }
    }
}
