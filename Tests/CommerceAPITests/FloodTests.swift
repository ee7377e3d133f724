import Foundation
import Synchronization
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The real `commerce serve`, started the way many services start — with an open-file limit of
/// 1,024 — against floods of connections and clients that never finish a request.
@Suite(.serialized) struct FloodTests {
    static let request = "GET /health/live HTTP/1.1\r\nHost: flood\r\n\r\n"
    static let limitedTo1024 = ["/usr/bin/prlimit", "--nofile=1024:1024", "--"]

    /// A server on a fresh Redis and database, stopped afterwards whatever happens.
    static func withServer<T>(arguments: [String] = [], launcher: [String] = limitedTo1024,
                              _ body: (CommerceServer) async throws -> T) async throws -> T {
        #expect(raiseOpenFileLimit() >= 4_000, "the test itself needs descriptors for thousands of connections")
        return try await withTestRedis { redis async throws in
            try await withTemporaryDirectory { directory async throws in
                try await CommerceServer.with(
                    databasePath: directory.appendingPathComponent("c.sqlite").path, redisURL: redis.url,
                    logFile: directory.appendingPathComponent("serve.log"), arguments: arguments, launcher: launcher, body)
            }
        }
    }

    /// `name`'s value (the sample without labels, or with exactly `labels`) in `GET /metrics`.
    static func metric(_ server: CommerceServer, _ name: String, _ labels: String = "") async throws -> Int? {
        sample(name, labels, in: try await server.once { try await $0.call(.get, "/metrics", token: nil) }.text)
    }

    /// Descriptors the process has open now (nil once it is gone).
    static func openDescriptors(_ process: ChildProcess) -> Int? {
        try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(process.pid)/fd").count
    }

    static func isAlive(_ process: ChildProcess) -> Bool {
        kill(process.pid, 0) == 0 && openDescriptors(process) != nil
    }

    @Test func threeThousandConnectionsAtOnceAreServedOrClosedAndTheServerLives() async throws {
        try await Self.withServer { server in
            // Throughout: the descriptors in use stay under the limit, and the process lives.
            let peak = Peak()
            let watching = Task {
                while !Task.isCancelled, let count = Self.openDescriptors(server.process) {
                    peak.record(count)
                    try? await Task.sleep(for: .milliseconds(10))
                }
            }
            defer { watching.cancel() }

            let connections = try (0..<3_000).map { _ in try RawConnection(port: server.port) }
            // Whatever the kernel queued is accepted now: the cap closes what is past it.
            #expect(RawConnection.waitUntilWritable(connections, timeout: .seconds(10)).isEmpty)
            for connection in connections { connection.send(Self.request) }
            let results = RawConnection.watchUntilClosed(connections, timeout: .seconds(5))
            #expect(Self.isAlive(server.process), "the server died:\n\(server.process.output)")

            // Each connection was answered correctly, or closed at once without a byte.
            let answered = results.filter { String(decoding: $0.bytes, as: UTF8.self).hasPrefix("HTTP/1.1 200 OK") }.count
            let refused = results.filter { $0.bytes.isEmpty && $0.closedAfter != nil }.count
            #expect(answered + refused == 3_000)
            #expect(answered >= 1 && answered <= 1_024 - 128)

            // With the cap full, 3,000 more connect and go at once, as clients retrying in a
            // loop do: the listener must not accept faster than it closes.
            for _ in 0..<10 {
                let storm = try (0..<300).map { _ in try RawConnection(port: server.port) }
                _ = RawConnection.waitUntilWritable(storm, timeout: .seconds(5))
            }
            #expect(Self.isAlive(server.process), "the server died:\n\(server.process.output)")

            // After the flood (its clients gone): a new client is answered within 10 s.
            for connection in connections { connection.shutdown() }
            let start = ContinuousClock.now
            try await waitForAnswer(server)
            #expect(ContinuousClock.now - start < .seconds(10))
            watching.cancel()
            #expect(peak.value < 1_024)
            #expect(Self.isAlive(server.process))
            #expect(try await Self.metric(server, "commerce_http_connections_max") == 1_024 - 128)
            let total = try await Self.metric(server, "commerce_http_connections_refused_total")!
            // (Storm connections still queued when the flood's clients left were let in instead.)
            #expect(total > refused)
        }
    }

    @Test func sixHundredRequestsWhoseHeadersNeverEndAreClosedWithinTheHeaderTimeout() async throws {
        try await Self.withServer(arguments: ["--header-timeout", "2s"]) { server in
            let connecting = ContinuousClock.now
            let connections = try (0..<600).map { _ in try RawConnection(port: server.port) }
            #expect(RawConnection.waitUntilWritable(connections, timeout: .seconds(10)).isEmpty)
            let sent = ContinuousClock.now
            for connection in connections { connection.send("GET /health/live HTTP/1.1\r\nHost: slow\r\nX-Never-Ending: ") }

            // A normal request is answered meanwhile.
            let reply = try await server.once { try await $0.call(.get, "/health/live", token: nil) }
            #expect(reply.status == .ok)
            #expect(ContinuousClock.now - sent < .seconds(1))

            let results = RawConnection.watchUntilClosed(connections, timeout: .seconds(8), since: connecting)
            let closings = results.compactMap(\.closedAfter)
            #expect(closings.count == 600, "still open: \(600 - closings.count)")
            // Closed by the server's timeout, 2 s from each connection's acceptance: not before
            // 2 s from the first connect, and not much after the last was sent.
            let latest = (sent - connecting) + .seconds(4)
            #expect(closings.allSatisfy { $0 >= .milliseconds(1_950) && $0 <= latest },
                    "closed between \(closings.min() ?? .zero) and \(closings.max() ?? .zero) after the first connect")
            #expect(results.allSatisfy { $0.bytes.isEmpty })
            #expect(try await Self.metric(server, "commerce_http_connections_timed_out_total", #"phase="header""#) == 600)
            #expect(Self.isAlive(server.process))
        }
    }

    @Test func connectionsPastTheCapAreClosedAtOnceAndTheCapFreesAsConnectionsClose() async throws {
        try await Self.withServer(arguments: ["--max-connections", "20"], launcher: []) { server in
            // One connection of ours reads the metrics throughout; the count is exact once the
            // start-up check's connection is gone.
            let observer = try RawConnection(port: server.port)
            try await waitFor { try observer.metric("commerce_http_connections_open") == 1 }

            let connections = try (0..<30).map { _ in try RawConnection(port: server.port) }
            #expect(RawConnection.waitUntilWritable(connections, timeout: .seconds(5)).isEmpty)
            // Held open, not yet asking anything: 19 in beside the observer, 11 closed at once.
            let early = RawConnection.watchUntilClosed(connections, timeout: .milliseconds(500))
            #expect(early.filter { $0.closedAfter != nil }.count == 11)
            #expect(early.allSatisfy { $0.bytes.isEmpty })
            let held = connections.indices.filter { early[$0].closedAfter == nil }
            for index in held { connections[index].send(Self.request) }
            let answers = RawConnection.watchUntilClosed(held.map { connections[$0] }, timeout: .milliseconds(500))
            #expect(answers.allSatisfy { String(decoding: $0.bytes, as: UTF8.self).hasPrefix("HTTP/1.1 200 OK") })
            #expect(try observer.metric("commerce_http_connections_refused_total") == 11)
            #expect(try observer.metric("commerce_http_connections_open") == 20)

            // Closed by their clients: the room is free again.
            for index in held { connections[index].shutdown() }
            try await waitFor { try observer.metric("commerce_http_connections_open") == 1 }
            try await waitForAnswer(server)
            #expect(try observer.metric("commerce_http_connections_refused_total") == 11)
        }
    }

    @Test func idleKeepAliveConnectionsAndStalledBodiesAreClosedWhileBusyClientsAreNot() async throws {
        try await Self.withServer(arguments: ["--idle-timeout", "1s", "--body-timeout", "500ms"], launcher: []) { server in
            let idle = try RawConnection(port: server.port)
            let busy = try RawConnection(port: server.port)
            let stalled = try RawConnection(port: server.port)
            #expect(RawConnection.waitUntilWritable([idle, busy, stalled], timeout: .seconds(5)).isEmpty)
            idle.send(Self.request)
            stalled.send("POST /points/charge HTTP/1.1\r\nHost: slow\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"user_id\":")

            // The busy client asks every 300 ms for 2.4 s, past both timeouts: never closed.
            for _ in 0..<8 {
                busy.send(Self.request)
                try await Task.sleep(for: .milliseconds(300))
                let (bytes, closed) = busy.drain()
                #expect(!closed)
                #expect(String(decoding: bytes, as: UTF8.self).hasPrefix("HTTP/1.1 200 OK"))
            }
            let (idleBytes, idleClosed) = idle.drain()
            #expect(String(decoding: idleBytes, as: UTF8.self).hasPrefix("HTTP/1.1 200 OK"))
            #expect(idleClosed, "an idle keep-alive connection is closed after the idle timeout")
            #expect(stalled.drain().closed, "a body that stops is closed after the body timeout")
            #expect(try await Self.metric(server, "commerce_http_connections_timed_out_total", #"phase="body""#) == 1)
        }
    }

    @Test func aClientThatAsksAndNeverReadsIsClosedAfterTheIdleTimeout() async throws {
        try await Self.withServer(arguments: ["--idle-timeout", "1s"], launcher: []) { server in
            let reader = try RawConnection(port: server.port, receiveBuffer: 4096)
            #expect(RawConnection.waitUntilWritable([reader], timeout: .seconds(5)).isEmpty)
            // Pipelined requests for the largest answer, more than the buffers between us hold.
            let requests = Array(String(repeating: "GET /openapi.yaml HTTP/1.1\r\nHost: never-reads\r\n\r\n", count: 2_000).utf8)
            var written = 0
            let start = ContinuousClock.now
            while written < requests.count, ContinuousClock.now - start < .seconds(3) {
                guard let count = reader.write(requests[written...]) else { break }
                written += count
                if count == 0 { try await Task.sleep(for: .milliseconds(10)) }
            }
            // The server's writes are stuck behind the unread answers: after the idle timeout
            // (and not long after) it closes the connection.
            try await Task.sleep(for: .milliseconds(2_500))
            #expect(try await Self.metric(server, "commerce_http_connections_timed_out_total", #"phase="response""#) == 1)
            var closed = false
            let deadline = ContinuousClock.now + .seconds(5)
            while !closed && ContinuousClock.now < deadline { closed = reader.drain().closed }
            #expect(closed)
        }
    }

    @Test func theSoftOpenFileLimitIsRaisedToTheHardLimitAndTheCapFollowsIt() async throws {
        try await Self.withServer(launcher: ["/usr/bin/prlimit", "--nofile=1024:4096", "--"]) { server in
            let limits = try String(contentsOfFile: "/proc/\(server.process.pid)/limits", encoding: .utf8)
            let openFiles = try #require(limits.split(separator: "\n").first { $0.hasPrefix("Max open files") })
            #expect(Array(openFiles.split(separator: " ").dropFirst(3).prefix(2)) == ["4096", "4096"])
            #expect(try await Self.metric(server, "commerce_http_connections_max") == 4096 - 512)
        }
    }
}

/// Waits until the server answers `/health/live` on a fresh connection; throws after 10 s.
private func waitForAnswer(_ server: CommerceServer) async throws {
    var answered = false
    try await waitFor {
        answered = (try? await server.once { try await $0.call(.get, "/health/live", token: nil) })?.status == .ok
        return answered
    }
    guard answered else { throw TestSupportError("the server did not answer within 10 s") }
}

/// The value of the sample `name` (without labels, or with exactly `labels`) in metrics `text`.
private func sample(_ name: String, _ labels: String = "", in text: String) -> Int? {
    let prefix = labels.isEmpty ? "\(name) " : "\(name){\(labels)} "
    return text.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Int($0.dropFirst(prefix.count)) }
}

/// The largest of the values recorded, from another task.
private final class Peak: Sendable {
    private let largest = Mutex(0)

    func record(_ count: Int) { largest.withLock { $0 = max($0, count) } }

    var value: Int { largest.withLock { $0 } }
}

extension RawConnection {
    /// Asks `GET /metrics` on this keep-alive connection and returns `name`'s value (nil if absent).
    func metric(_ name: String) throws -> Int? {
        guard send("GET /metrics HTTP/1.1\r\nHost: observer\r\n\r\n") else { throw TestSupportError("the connection is closed") }
        var received: [UInt8] = []
        let deadline = ContinuousClock.now + .seconds(5)
        while !Self.isWholeResponse(received) {
            let (bytes, closed) = drain()
            received += bytes
            if closed || ContinuousClock.now > deadline { throw TestSupportError("no whole answer: \(received.count) bytes") }
            usleep(5_000)
        }
        return sample(name, in: String(decoding: received, as: UTF8.self))
    }

    /// Whether `bytes` hold a response's headers and as many body bytes as its Content-Length says.
    private static func isWholeResponse(_ bytes: [UInt8]) -> Bool {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let end = text.range(of: "\r\n\r\n") else { return false }
        let length = text[..<end.lowerBound].split(separator: "\r\n")
            .first { $0.lowercased().hasPrefix("content-length:") }
            .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) }
        return text[end.upperBound...].utf8.count >= (length ?? 0)
    }
}
