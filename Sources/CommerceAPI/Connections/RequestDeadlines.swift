import NIOCore
import NIOHTTPTypes

/// Closes a connection whose client stops short, after the HTTP decoder in its pipeline: the
/// headers of a request must be complete within ``ConnectionLimits/headerTimeout`` of the
/// connection opening (or, on a keep-alive connection, of the first bytes of its next request),
/// and its body within ``ConnectionLimits/bodyTimeout`` of its headers. Otherwise a few
/// thousand half-sent requests would hold their descriptors forever. The wait between requests
/// is the idle timeout's, and nothing runs while the server itself is answering.
final class RequestDeadlines: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    private let limits: ConnectionLimits
    private let counts: ConnectionCounts
    private var deadline: Scheduled<Void>?
    /// What the client owes: a request's headers (since the last request's end, or the
    /// connection's start; the clock runs only once bytes of them arrive) or the rest of a body.
    private var owed = RequestPhase.header
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
        stop()
    }

    func channelActive(context: ChannelHandlerContext) {
        start(.header, context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        decodedPartInThisRead = true
        switch unwrapInboundIn(data) {
        case .head:
            owed = .body
            stop()
        case .body:
            break
        case .end:
            owed = .header
            stop()
        }
        context.fireChannelRead(data)
    }

    /// The clocks start here, after a read's parts went by, rather than at each part: a request
    /// that arrives whole in one read (nearly every one) schedules and cancels no timer.
    func channelReadComplete(context: ChannelHandlerContext) {
        switch owed {
        case .body: start(.body, context: context)
        case .header where !decodedPartInThisRead: start(.header, context: context)
        case .header: break
        }
        decodedPartInThisRead = false
        context.fireChannelReadComplete()
    }

    /// Starts the phase's clock unless one is already running (headers arriving a byte at a time
    /// do not restart it).
    private func start(_ phase: RequestPhase, context: ChannelHandlerContext) {
        guard deadline == nil else { return }
        let timeout = phase == .header ? limits.headerTimeout : limits.bodyTimeout
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(timeout)) { [counts] in
            counts.timedOut(phase)
            context.close(promise: nil)
        }
    }

    private func stop() {
        deadline?.cancel()
        deadline = nil
    }
}

@available(*, unavailable)
extension RequestDeadlines: Sendable {}
