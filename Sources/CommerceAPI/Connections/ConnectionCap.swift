import CommerceCore
import NIOCore

/// On the listening socket's pipeline, ahead of the server's own handlers: a connection accepted
/// while ``ConnectionLimits/maxConnections`` are open is closed at once and never reaches the
/// HTTP server, so the descriptors in use stay below the open-file limit however many clients
/// connect. (Not accepting until one frees would leave them waiting in the kernel's backlog
/// with no answer; a closed connection tells the client at once to come back later.)
///
/// Two bounds on refusing, both by pausing the listener (clients wait in the backlog meanwhile):
/// - A refused connection holds its descriptor until its close has run on its own event loop,
///   which may be busy serving. While ``closingLimit`` are still closing, no more are accepted,
///   so the descriptors in use stay at most the cap + that + one read's accepts.
/// - Each refusal is an accept and a close, and clients that reconnect at once (`wrk` does)
///   would have the event loops do nothing else; at most ``refusalsPerSecond`` (a bucket of as
///   many) are made while the cap is full.
final class ConnectionCap: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel
    typealias OutboundIn = Never

    static let closingLimit = 32
    static let refusalsPerSecond = 2_000.0

    private let counts: ConnectionCounts
    private var closing = 0
    private var refusals = ConnectionCap.refusalsPerSecond
    private var refilledAt = NIODeadline.now()
    /// The server asked to accept while this handler held back; resumed by a close or the timer.
    private var readPending = false
    private var retry: Scheduled<Void>?
    /// Closes and the timer may still call back after the listener is gone (at shutdown).
    private var removed = false

    init(limit: Int, counts: ConnectionCounts) {
        counts.cap(at: limit)
        self.counts = counts
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let connection = unwrapInboundIn(data)
        guard counts.admit() else {
            refuse(connection, context: context)
            return
        }
        connection.closeFuture.whenComplete { [counts] _ in counts.connectionClosed() }
        context.fireChannelRead(data)
    }

    func read(context: ChannelHandlerContext) {
        guard mayAccept() else {
            readPending = true
            scheduleRetry(context: context)
            return
        }
        context.read()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        removed = true
        retry?.cancel()
    }

    private func refuse(_ connection: any Channel, context: ChannelHandlerContext) {
        closing += 1
        refusals -= 1
        let loopBound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        connection.close(promise: nil)
        connection.closeFuture.hop(to: context.eventLoop).whenComplete { _ in
            let (handler, context) = loopBound.value
            handler.closing -= 1
            handler.resumeIfPossible(context: context)
        }
    }

    /// Whether one more accept keeps within both bounds (an admitted connection needs neither).
    private func mayAccept() -> Bool {
        guard closing < Self.closingLimit else { return false }
        guard counts.isFull else { return true }
        let now = NIODeadline.now()
        let seconds = Double((now - refilledAt).nanoseconds) / 1e9
        refusals = min(Self.refusalsPerSecond, refusals + seconds * Self.refusalsPerSecond)
        refilledAt = now
        return refusals >= 1
    }

    private func resumeIfPossible(context: ChannelHandlerContext) {
        guard !removed, readPending, mayAccept() else { return }
        readPending = false
        context.read()
    }

    /// Looks again in a millisecond (two refusals' worth), unless a look is due already; a
    /// slot freed by a closing connection is found then too.
    private func scheduleRetry(context: ChannelHandlerContext) {
        guard retry == nil, !removed else { return }
        retry = context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(1)) {
            self.retry = nil
            self.resumeIfPossible(context: context)
            if self.readPending { self.scheduleRetry(context: context) }
        }
    }
}

@available(*, unavailable)
extension ConnectionCap: Sendable {}
