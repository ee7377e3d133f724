import NIOCore
import NIOPosix
import Synchronization

/// A TCP proxy on a free loopback port in front of one server (Redis, PostgreSQL), for injecting
/// the faults a network has: replies held back (the command ran, its answer is late or never
/// comes), both directions held (a partition), a delay, every connection closed. Each
/// connection through it is a pair of sockets; what a held direction carries waits in the proxy
/// and goes on, in order, when it is released.
public final class FaultProxy: Sendable {
    /// Which way bytes go.
    public enum Direction: Sendable, Hashable {
        /// From the client (serve) to the server.
        case toServer
        /// From the server back to the client.
        case toClient
    }

    /// Where clients connect.
    public let port: Int
    private let group: MultiThreadedEventLoopGroup
    private let listener: any Channel
    private let state: Mutex<State>

    struct State {
        var held: Set<Direction> = []
        /// Bytes that, once a client sends them on a connection, hold that connection's replies.
        var holdRepliesAfter: [UInt8]?
        /// Bytes that, when a client sends them on a connection, are held with everything that
        /// connection sends after them.
        var holdRequestsFrom: [UInt8]?
        var delay: TimeAmount = .zero
        var pipes: [ObjectIdentifier: Pipe] = [:]
        var connections = 0
    }

    /// Starts a proxy to `targetPort` on 127.0.0.1.
    public static func start(to targetPort: Int) async throws -> FaultProxy {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let box = ProxyBox()
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.autoRead, value: true)
            .childChannelInitializer { channel in
                guard let proxy = box.proxy else { return channel.close() }
                return proxy.accept(channel, targetPort: targetPort)
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let proxy = FaultProxy(port: listener.localAddress!.port!, group: group, listener: listener)
        box.proxy = proxy
        return proxy
    }

    private init(port: Int, group: MultiThreadedEventLoopGroup, listener: any Channel) {
        self.port = port
        self.group = group
        self.listener = listener
        self.state = Mutex(State())
    }

    /// Connections accepted so far.
    public var connectionsAccepted: Int { state.withLock { $0.connections } }

    /// Holds what goes in these directions until ``release(_:)``: `[.toClient]` lets commands
    /// through and keeps their replies; both is a partition.
    public func hold(_ directions: Set<Direction>) {
        state.withLock { $0.held.formUnion(directions) }
    }

    /// Holds the replies of the connection on which the client sends `marker` (from then on,
    /// until ``release(_:)`` or the connection closes): one command runs, its answer is lost,
    /// while every other connection goes on. PostgreSQL's extended protocol names a prepared
    /// statement's parameters in binary in its Bind message (not in its Parse), so a value
    /// only that statement carries (a user id as a big-endian int8) marks the connection that
    /// runs it, after the statement is prepared.
    public func holdReplies(afterClientSends marker: [UInt8]) {
        state.withLock { $0.holdRepliesAfter = marker }
    }

    /// Holds what the client sends on the next connection that carries `marker`, from the bytes
    /// that carry it on, until ``release(_:)`` (`.toServer`): one command is late on the network
    /// while every other connection (a retry carrying the marker too) goes on. A client that
    /// closes that connection meanwhile does not take the held bytes back: they still reach the
    /// server on release, as a kernel still delivers what a closed socket had not sent yet.
    public func holdRequests(from marker: [UInt8]) {
        state.withLock { $0.holdRequestsFrom = marker }
    }

    /// Lets held bytes go on, in order, and stops holding these directions.
    public func release(_ directions: Set<Direction> = [.toServer, .toClient]) {
        let pipes = state.withLock { state in
            state.held.subtract(directions)
            if directions.contains(.toClient) { state.holdRepliesAfter = nil }
            if directions.contains(.toServer) { state.holdRequestsFrom = nil }
            return Array(state.pipes.values)
        }
        for pipe in pipes {
            if directions.contains(.toClient) { pipe.releaseReplies() }
            if directions.contains(.toServer) { pipe.releaseRequests(proxy: self) }
            pipe.flush(proxy: self)
        }
    }

    /// Delays every byte by `delay` from now on (zero: none).
    public func delay(_ delay: Duration) {
        let nanoseconds = delay.components.seconds * 1_000_000_000 + delay.components.attoseconds / 1_000_000_000
        state.withLock { $0.delay = .nanoseconds(nanoseconds) }
    }

    /// Closes every connection through the proxy now, dropping whatever was held (new ones are
    /// still accepted).
    public func closeConnections() {
        let pipes = state.withLock { state in
            defer { state.pipes.removeAll() }
            return Array(state.pipes.values)
        }
        for pipe in pipes { pipe.close() }
    }

    /// Stops listening and closes every connection.
    public func stop() async {
        closeConnections()
        try? await listener.close()
        try? await group.shutdownGracefully()
    }

    // MARK: Plumbing

    fileprivate func isHeld(_ direction: Direction) -> (held: Bool, delay: TimeAmount) {
        state.withLock { ($0.held.contains(direction), $0.delay) }
    }

    fileprivate var replyMarker: [UInt8]? { state.withLock { $0.holdRepliesAfter } }

    /// True once, for the first bytes that carry the request marker.
    fileprivate func takeRequestMarker(in bytes: ByteBuffer) -> Bool {
        state.withLock { state in
            guard let marker = state.holdRequestsFrom, bytes.readableBytesView.firstRange(of: marker) != nil else { return false }
            state.holdRequestsFrom = nil
            return true
        }
    }

    private func accept(_ client: any Channel, targetPort: Int) -> EventLoopFuture<Void> {
        let pipe = Pipe(client: client)
        state.withLock { state in
            state.pipes[ObjectIdentifier(pipe)] = pipe
            state.connections += 1
        }
        let forget: @Sendable () -> Void = { [weak self] in
            _ = self?.state.withLock { $0.pipes.removeValue(forKey: ObjectIdentifier(pipe)) }
        }
        ClientBootstrap(group: client.eventLoop)
            .channelInitializer { server in
                server.pipeline.addHandler(Forwarder(pipe: pipe, direction: .toClient, proxy: self, onClose: forget))
            }
            .connect(host: "127.0.0.1", port: targetPort)
            .whenComplete { result in
                switch result {
                case .success(let server): pipe.connected(server, proxy: self)
                case .failure: pipe.close()
                }
            }
        return client.pipeline.addHandler(Forwarder(pipe: pipe, direction: .toServer, proxy: self, onClose: forget))
    }
}

/// Lets the server bootstrap's initializer reach the proxy it is part of (made after it binds).
private final class ProxyBox: Sendable {
    private let value = Mutex<FaultProxy?>(nil)
    var proxy: FaultProxy? {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}

/// One client connection and its connection to the server, with what waits in each direction.
final class Pipe: Sendable {
    private struct State {
        var server: (any Channel)?
        var waiting: [FaultProxy.Direction: [ByteBuffer]] = [:]
        var closed = false
        /// This connection's replies are held (``FaultProxy/holdReplies(afterClientSends:)``).
        var repliesHeld = false
        /// What this connection's client sends is held (``FaultProxy/holdRequests(from:)``).
        var requestsHeld = false
        /// The client closed while its requests were held: the server side closes once they went.
        var clientGone = false
    }

    private let client: any Channel
    private let state = Mutex(State())

    init(client: any Channel) {
        self.client = client
    }

    fileprivate func connected(_ server: any Channel, proxy: FaultProxy) {
        let closed = state.withLock { state in
            state.server = server
            return state.closed
        }
        if closed { server.close(promise: nil) } else { flush(proxy: proxy) }
    }

    /// Bytes read on one side, for the other.
    fileprivate func forward(_ bytes: ByteBuffer, _ direction: FaultProxy.Direction, proxy: FaultProxy) {
        let holdReplies = direction == .toServer && proxy.replyMarker.map { bytes.readableBytesView.firstRange(of: $0) != nil } == true
        let holdRequests = direction == .toServer && proxy.takeRequestMarker(in: bytes)
        state.withLock { state in
            state.waiting[direction, default: []].append(bytes)
            if holdReplies { state.repliesHeld = true }
            if holdRequests { state.requestsHeld = true }
        }
        flush(proxy: proxy)
    }

    fileprivate func releaseReplies() {
        state.withLock { $0.repliesHeld = false }
    }

    fileprivate func releaseRequests(proxy: FaultProxy) {
        let closeAfter = state.withLock { state in
            defer { state.requestsHeld = false }
            return state.requestsHeld && state.clientGone
        }
        guard closeAfter else { return }
        flush(proxy: proxy)
        // After the held bytes (the flush's write runs first on the same event loop).
        if let server = state.withLock({ $0.server }) {
            server.eventLoop.execute { server.close(promise: nil) }
        }
    }

    /// The client side closed: true when the pipe stays (its requests are held), else it closes.
    fileprivate func clientClosed() -> Bool {
        let keep = state.withLock { state in
            if state.requestsHeld { state.clientGone = true }
            return state.requestsHeld
        }
        if !keep { close() }
        return keep
    }

    /// Sends what waits in each direction that is not held (and whose far side is connected).
    fileprivate func flush(proxy: FaultProxy) {
        for direction in [FaultProxy.Direction.toServer, .toClient] {
            let (held, delay) = proxy.isHeld(direction)
            guard !held else { continue }
            let (target, buffers): ((any Channel)?, [ByteBuffer]) = state.withLock { state in
                let target = direction == .toServer ? state.server : client
                guard let target, !state.closed, !(direction == .toClient && (state.repliesHeld || state.clientGone)),
                      !(direction == .toServer && state.requestsHeld) else { return (nil, []) }
                defer { state.waiting[direction] = [] }
                return (target, state.waiting[direction] ?? [])
            }
            guard let target, !buffers.isEmpty else { continue }
            let send: @Sendable () -> Void = {
                for buffer in buffers { target.write(NIOAny(buffer), promise: nil) }
                target.flush()
            }
            if delay == .zero { target.eventLoop.execute(send) } else { target.eventLoop.scheduleTask(in: delay, send) }
        }
    }

    func close() {
        let server = state.withLock { state in
            state.closed = true
            state.waiting = [:]
            return state.server
        }
        client.close(promise: nil)
        server?.close(promise: nil)
    }
}

/// Reads one side of a pipe and hands the bytes over; a side that closes closes the pipe.
private final class Forwarder: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    let pipe: Pipe
    let direction: FaultProxy.Direction
    let proxy: FaultProxy
    let onClose: @Sendable () -> Void

    init(pipe: Pipe, direction: FaultProxy.Direction, proxy: FaultProxy, onClose: @escaping @Sendable () -> Void) {
        self.pipe = pipe
        self.direction = direction
        self.proxy = proxy
        self.onClose = onClose
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        pipe.forward(unwrapInboundIn(data), direction, proxy: proxy)
    }

    func channelInactive(context: ChannelHandlerContext) {
        // The client's side reads what goes to the server.
        if direction == .toServer, pipe.clientClosed() { return }
        pipe.close()
        onClose()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
