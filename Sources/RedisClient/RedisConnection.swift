import NIOCore
import Synchronization

/// One TCP connection to Redis that any number of tasks share: their commands are pipelined.
///
/// Callers on any thread put commands into `outbox`; the first one to find it empty schedules a
/// single drain on the event loop, which writes everything that arrived meanwhile in one flush.
/// Under load that turns many concurrent callers into one syscall and one Redis read.
final class RedisConnection: Sendable {
    private struct Outbox: Sendable {
        var commands: [OutgoingCommand] = []
        var drainScheduled = false
    }

    let channel: any Channel
    private let handler: NIOLoopBound<RedisChannelHandler>
    private let outbox = Mutex(Outbox())

    init(channel: any Channel, handler: NIOLoopBound<RedisChannelHandler>) {
        self.channel = channel
        self.handler = handler
    }

    var isActive: Bool { channel.isActive }

    /// Sends `command` and returns its reply; a top-level error reply is thrown as `.server`.
    /// With `asking`, `ASKING` goes right before it (nothing can come between: one batch).
    @discardableResult
    func send(_ command: RedisCommand, asking: Bool = false, timeout: TimeAmount) async throws -> RedisReply {
        let reply = try await withCheckedThrowingContinuation { continuation in
            let deadline = NIODeadline.now() + timeout
            let outgoing = OutgoingCommand(bytes: command.encoded, deadline: deadline, continuation: continuation)
            let mustSchedule = outbox.withLock { outbox in
                // ASKING's own reply is not awaited: the command's reply says how it went.
                if asking { outbox.commands.append(OutgoingCommand(bytes: Self.asking, deadline: deadline, continuation: nil)) }
                outbox.commands.append(outgoing)
                defer { outbox.drainScheduled = true }
                return !outbox.drainScheduled
            }
            if mustSchedule {
                channel.eventLoop.execute { self.drain() }
            }
        }
        if case .error(let message) = reply {
            throw RedisError(.server, message)
        }
        return reply
    }

    private static let asking = RedisCommand("ASKING").encoded

    func close() {
        channel.close(promise: nil)
    }

    private func drain() {
        let batch = outbox.withLock { outbox in
            outbox.drainScheduled = false
            let taken = outbox.commands
            outbox.commands = []
            return taken
        }
        if !batch.isEmpty { handler.value.write(batch) }
    }
}
