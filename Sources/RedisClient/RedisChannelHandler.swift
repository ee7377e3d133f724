import NIOCore

/// A command on its way out: its encoded bytes and who waits for the reply.
struct OutgoingCommand: Sendable {
    let bytes: ByteBuffer
    let deadline: NIODeadline
    /// Nil for a command whose reply nobody awaits (`ASKING`).
    let continuation: CheckedContinuation<RedisReply, any Error>?
}

/// The protocol end of one connection: writes batches of commands, parses the byte stream into
/// replies and hands each to the caller waiting in FIFO order (Redis answers in command order,
/// so a queue of continuations is all the bookkeeping pipelining needs).
///
/// Runs on its channel's event loop only. A command whose reply is overdue means Redis is stuck
/// or the network is gone: every waiting caller fails with `.timeout` and the connection closes
/// (the pool opens a new one on the next call).
final class RedisChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let parser = RedisReplyParser()
    private var waiting = CircularBuffer<OutgoingCommand>(initialCapacity: 64)
    private var context: ChannelHandlerContext?
    private var closedError: RedisError?
    private var timeoutCheck: RepeatedTask?
    private let checkInterval: TimeAmount
    /// Called when this end closes the connection while commands wait for replies: they may
    /// still run on the server (see ``ConnectionFences``).
    private let abandonedInFlight: @Sendable () -> Void

    init(commandTimeout: TimeAmount, abandonedInFlight: @escaping @Sendable () -> Void = {}) {
        // Check often enough that a timeout fires at most ~10% late.
        self.checkInterval = .nanoseconds(max(5_000_000, commandTimeout.nanoseconds / 10))
        self.abandonedInFlight = abandonedInFlight
    }

    /// Writes every command in one flush and queues their continuations in the same order.
    func write(_ batch: [OutgoingCommand]) {
        guard let context, closedError == nil else {
            let error = closedError ?? RedisError(.connectionClosed, "connection is not open")
            for command in batch { command.continuation?.resume(throwing: error) }
            return
        }
        var buffer = context.channel.allocator.buffer(capacity: batch.reduce(0) { $0 + $1.bytes.readableBytes })
        for command in batch {
            buffer.writeImmutableBuffer(command.bytes)
            waiting.append(command)
        }
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // The task runs on this handler's event loop; it is cancelled in handlerRemoved, which
        // also ends the reference it holds.
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        timeoutCheck = context.eventLoop.scheduleRepeatedTask(initialDelay: checkInterval, delay: checkInterval) { _ in
            handler.value.failIfOverdue()
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timeoutCheck?.cancel()
        failAll(RedisError(.connectionClosed, "connection closed"))
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        do {
            try buffer.withUnsafeReadableBytes { try parser.feed($0) }
            while let reply = try parser.next() {
                guard let command = waiting.popFirst() else {
                    throw RedisError(.protocolError, "a reply arrived that no command asked for")
                }
                command.continuation?.resume(returning: reply)
            }
        } catch {
            fail(error as? RedisError ?? RedisError(.protocolError, "\(error)"), context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(RedisError(.connectionClosed, "Redis closed the connection"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(RedisError(.connectionClosed, "connection error: \(error)"), context: context)
    }

    private func failIfOverdue() {
        guard let context, let oldest = waiting.first, oldest.deadline < .now() else { return }
        fail(RedisError(.timeout, "no reply from Redis within the command timeout"), context: context)
    }

    private func fail(_ error: RedisError, context: ChannelHandlerContext) {
        if !waiting.isEmpty { abandonedInFlight() }
        failAll(error)
        context.close(promise: nil)
    }

    private func failAll(_ error: RedisError) {
        if closedError == nil { closedError = error }
        while let command = waiting.popFirst() {
            command.continuation?.resume(throwing: error)
        }
    }
}
