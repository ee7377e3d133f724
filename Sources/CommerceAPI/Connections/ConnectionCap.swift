import NIOCore

/// On the listening socket's pipeline, ahead of the server's own handlers: a connection accepted
/// while ``ConnectionLimits/maxConnections`` are open is closed at once and never reaches the
/// HTTP server, so the descriptors in use stay below the open-file limit however many clients
/// connect. (Not accepting until one frees would leave them waiting in the kernel's backlog
/// with no answer; a closed connection tells the client at once to come back later.)
///
/// A refused connection holds its descriptor until its close has run on its own event loop,
/// which may be busy serving; clients that reconnect at once (`wrk` does) would otherwise have
/// the listener accept faster than those closes free descriptors. So while ``closingLimit``
/// refused connections are still closing, the listener stops accepting until they are closed:
/// at most `maxConnections` open, plus that many closing, plus one read's accepts.
final class ConnectionCap: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel
    typealias OutboundIn = Never

    static let closingLimit = 32

    private let counts: ConnectionCounts
    private var closing = 0
    private var readPending = false

    init(limit: Int, counts: ConnectionCounts) {
        counts.cap(at: limit)
        self.counts = counts
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let connection = unwrapInboundIn(data)
        guard counts.admit() else {
            closing += 1
            let loopBound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
            connection.close(promise: nil)
            connection.closeFuture.hop(to: context.eventLoop).whenComplete { _ in
                loopBound.value.handler.closed(context: loopBound.value.context)
            }
            return
        }
        connection.closeFuture.whenComplete { [counts] _ in counts.connectionClosed() }
        context.fireChannelRead(data)
    }

    func read(context: ChannelHandlerContext) {
        guard closing < Self.closingLimit else {
            readPending = true
            return
        }
        context.read()
    }

    private func closed(context: ChannelHandlerContext) {
        closing -= 1
        if readPending && closing < Self.closingLimit {
            readPending = false
            context.read()
        }
    }
}

@available(*, unavailable)
extension ConnectionCap: Sendable {}
