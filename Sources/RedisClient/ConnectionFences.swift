import NIOCore
import Synchronization

/// Connections this client gave up on while commands were in flight (no reply in time, a reply
/// that made no sense), closed here but perhaps not yet on the server: a command of theirs still
/// in the network or in Redis's input buffer could run later — after the caller, told it failed,
/// has undone or retried it. So before anything else goes to that server, on whatever
/// connection, the server kills each such connection (`CLIENT KILL ID … ADDR …`); Redis runs a
/// connection's commands in order, so what follows the kill on a connection runs after it, and a
/// killed connection runs nothing more. A kill that finds the connection gone (it closed, the
/// server restarted) is done too; the `ADDR` as the server saw it keeps a restarted server's
/// reused id from matching another client.
final class ConnectionFences: Sendable {
    /// A connection as the server knows it (`CLIENT INFO`'s `id` and `addr`).
    struct Fence: Hashable, Sendable {
        let id: Int64
        let address: String

        /// From a `CLIENT INFO` reply line (`id=7 addr=127.0.0.1:50312 laddr=…`).
        init?(clientInfo: String) {
            var fields: [Substring: Substring] = [:]
            for pair in clientInfo.split(whereSeparator: \.isWhitespace) {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                if parts.count == 2 { fields[parts[0]] = parts[1] }
            }
            guard let id = fields["id"].flatMap({ Int64($0) }), let address = fields["addr"], !address.isEmpty else { return nil }
            self.id = id
            self.address = String(address)
        }
    }

    private let pending = Mutex<Set<Fence>>([])
    /// Read on every command: a lock only when there is something to raise.
    private let raised = Atomic<Bool>(true)

    func add(_ fence: Fence) {
        pending.withLock { pending in
            pending.insert(fence)
            raised.store(false, ordering: .releasing)
        }
    }

    /// Has `connection` kill every pending fence's connection before it carries anything else;
    /// throws (and the fences stay) when the server cannot be told.
    func raise(on connection: RedisConnection, timeout: TimeAmount) async throws {
        guard !raised.load(ordering: .acquiring) else { return }
        let fences = pending.withLock { Array($0) }
        for fence in fences {
            // An integer reply: how many connections were killed (0: it was gone already).
            try await connection.send(RedisCommand("CLIENT", "KILL", "ID", RedisArgument(fence.id), "ADDR", RedisArgument(fence.address)),
                                      timeout: timeout)
        }
        pending.withLock { pending in
            pending.subtract(fences)
            if pending.isEmpty { raised.store(true, ordering: .releasing) }
        }
    }
}

/// Which connection the server sees at the other end of one of ours, learned when it opens.
final class ServerSideConnection: Sendable {
    private let fence = Mutex<ConnectionFences.Fence?>(nil)

    var value: ConnectionFences.Fence? {
        get { fence.withLock { $0 } }
        set { fence.withLock { $0 = newValue } }
    }
}
