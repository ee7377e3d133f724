import CommerceCore
import NIOCore
import NIOHTTPTypes

/// Closes a connection whose client stops short, after the HTTP decoder in its pipeline: the
/// headers of a request must be complete within ``ConnectionLimits/headerTimeout`` of the
/// connection opening (or, on a keep-alive connection, of the first bytes of its next request),
/// and its body within ``ConnectionLimits/bodyTimeout`` of its headers; and a client whose
/// unread answers fill the connection's write buffer has ``ConnectionLimits/idleTimeout`` to
/// read them down. Otherwise a few thousand half-sent requests, or clients that ask and never
/// read, would hold their descriptors forever (Hummingbird's idle timeout, which owns the wait
/// between requests, waits for an answer being written however long it takes).
final class RequestDeadlines: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    private let limits: ConnectionLimits
    private let counts: ConnectionCounts
    private var deadline: Scheduled<Void>?
    /// Runs while the write buffer is past its high-water mark.
    private var unread: Scheduled<Void>?
    /// Between a request's headers and its end the client owes the body; otherwise the next
    /// request's headers (their clock runs once bytes of them arrive, or from the connection's start).
    private var readingBody = false
    /// A read that the decoder turned into no request part is the start of unfinished headers.
    private var decodedPartInThisRead = false

    init(limits: ConnectionLimits, counts: ConnectionCounts) {
        self.limits = limits
        self.counts = counts
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(.header, context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelClocks()
    }

    func channelActive(context: ChannelHandlerContext) {
        start(.header, context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelClocks()
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            unread?.cancel()
            unread = nil
        } else if unread == nil {
            unread = close(after: limits.idleTimeout, counting: .response, context: context)
        }
        context.fireChannelWritabilityChanged()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        decodedPartInThisRead = true
        switch unwrapInboundIn(data) {
        case .head:
            readingBody = true
            stop()
        case .body:
            break
        case .end:
            readingBody = false
            stop()
        }
        context.fireChannelRead(data)
    }

    /// The clocks start here, after a read's parts went by, rather than at each part: a request
    /// that arrives whole in one read (nearly every one) schedules and cancels no timer.
    func channelReadComplete(context: ChannelHandlerContext) {
        if readingBody {
            start(.body, context: context)
        } else if !decodedPartInThisRead {
            start(.header, context: context)
        }
        decodedPartInThisRead = false
        context.fireChannelReadComplete()
    }

    /// Starts the phase's clock unless one is already running (headers arriving a byte at a time
    /// do not restart it).
    private func start(_ phase: RequestPhase, context: ChannelHandlerContext) {
        guard deadline == nil else { return }
        deadline = close(after: phase == .header ? limits.headerTimeout : limits.bodyTimeout, counting: phase, context: context)
    }

    private func close(after timeout: Duration, counting phase: RequestPhase, context: ChannelHandlerContext) -> Scheduled<Void> {
        context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(timeout)) { [counts] in
            counts.timedOut(phase)
            context.close(promise: nil)
        }
    }

    private func stop() {
        deadline?.cancel()
        deadline = nil
    }

    private func cancelClocks() {
        stop()
        unread?.cancel()
        unread = nil
    }
}

@available(*, unavailable)
extension RequestDeadlines: Sendable {}
