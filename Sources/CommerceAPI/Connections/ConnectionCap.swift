import NIOCore

/// On the listening socket's pipeline, ahead of the server's own handlers: a connection accepted
/// while ``ConnectionLimits/maxConnections`` are open is closed at once and never reaches the
/// HTTP server, so the descriptors in use stay below the open-file limit however many clients
/// connect. (Not accepting until one frees would leave them waiting in the kernel's backlog
/// with no answer; a closed connection tells the client at once to come back later.)
final class ConnectionCap: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel

    private let counts: ConnectionCounts

    init(limit: Int, counts: ConnectionCounts) {
        counts.cap(at: limit)
        self.counts = counts
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let connection = unwrapInboundIn(data)
        guard counts.admit() else {
            connection.close(promise: nil)
            return
        }
        connection.closeFuture.whenComplete { [counts] _ in counts.connectionClosed() }
        context.fireChannelRead(data)
    }
}

@available(*, unavailable)
extension ConnectionCap: Sendable {}
