import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A bare TCP connection to a local port, for tests that act like a hostile or careless client:
/// thousands at once, half a request, or a request and then silence. Non-blocking; waits go
/// through poll(2), so one thread can watch thousands.
public final class RawConnection: Sendable {
    public let fd: Int32

    /// Starts connecting to 127.0.0.1:`port` (completion is seen by ``waitUntilWritable``);
    /// `receiveBuffer` bytes, if given, bound what the kernel takes in before this side reads;
    /// `source`, if given, is the loopback address it connects from (`127.0.0.2`: another client).
    public init(port: Int, receiveBuffer: Int32? = nil, from source: String? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestSupportError("socket() failed: errno \(errno) (raise the open-file limit?)") }
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            local.sin_addr.s_addr = inet_addr(source)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else {
                close(fd)
                throw TestSupportError("bind(\(source)) failed: errno \(errno)")
            }
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 || errno == EINPROGRESS else {
            close(fd)
            throw TestSupportError("connect() failed: errno \(errno)")
        }
    }

    deinit { close(fd) }

    /// Sends `text` whole, or returns false if the connection is closed or its buffer full.
    @discardableResult
    public func send(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
    }

    /// Writes what the socket takes now of `bytes`: the count (0 when its buffer is full), or
    /// nil once the connection is closed.
    public func write(_ bytes: ArraySlice<UInt8>) -> Int? {
        let count = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if count >= 0 { return count }
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : nil
    }

    /// Closes both directions (the server sees the end) but keeps the descriptor until deinit,
    /// so its number is not reused while this object exists.
    public func shutdown() {
        _ = Glibc.shutdown(fd, Int32(SHUT_RDWR))
    }

    /// Reads what has arrived without waiting: the bytes, and whether the server closed (end of
    /// stream or reset).
    public func drain() -> (bytes: [UInt8], closed: Bool) {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 { received += buffer[0..<count]; continue }
            if count == 0 { return (received, true) }
            return (received, errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        }
    }

    /// Waits until every connection in `connections` is connected (or failed) or `timeout`
    /// passes; the indices of those still not writable.
    public static func waitUntilWritable(_ connections: [RawConnection], timeout: Duration) -> Set<Int> {
        var pending = Set(connections.indices)
        let deadline = ContinuousClock.now + timeout
        while !pending.isEmpty, ContinuousClock.now < deadline {
            let ready = poll(connections, pending, events: Int16(POLLOUT), wait: .milliseconds(100))
            pending.subtract(ready)
        }
        return pending
    }

    /// Watches `connections` until each has been closed by the server or `timeout` passes,
    /// reading and keeping what arrives: per connection, the bytes received and the time since
    /// `start` at which it closed (nil: still open).
    public static func watchUntilClosed(_ connections: [RawConnection], timeout: Duration,
                                        since start: ContinuousClock.Instant = .now) -> [(bytes: [UInt8], closedAfter: Duration?)] {
        var results = [(bytes: [UInt8], closedAfter: Duration?)](repeating: ([], nil), count: connections.count)
        var open = Set(connections.indices)
        while !open.isEmpty, ContinuousClock.now - start < timeout {
            for index in poll(connections, open, events: Int16(POLLIN), wait: .milliseconds(50)) {
                let (bytes, closed) = connections[index].drain()
                results[index].bytes += bytes
                if closed {
                    results[index].closedAfter = ContinuousClock.now - start
                    open.remove(index)
                }
            }
        }
        return results
    }

    /// Sends one request (with `Connection: close`) and returns the status code of the answer,
    /// nil when none came within `timeout`.
    public static func status(of request: String, port: Int, from source: String? = nil, timeout: Duration = .seconds(5)) throws -> Int? {
        let connection = try RawConnection(port: port, from: source)
        guard waitUntilWritable([connection], timeout: timeout).isEmpty, connection.send(request) else { return nil }
        let bytes = watchUntilClosed([connection], timeout: timeout)[0].bytes
        // "HTTP/1.1 201 Created"
        let words = String(decoding: bytes.prefix(32), as: UTF8.self).split(separator: " ")
        return words.count > 1 ? Int(words[1]) : nil
    }

    /// The indices among `indices` whose socket has `events` (or an error or hang-up) within `wait`.
    private static func poll(_ connections: [RawConnection], _ indices: Set<Int>, events: Int16, wait: Duration) -> [Int] {
        let order = Array(indices)
        var descriptors = order.map { pollfd(fd: connections[$0].fd, events: events, revents: 0) }
        let milliseconds = Int32(wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000)
        guard Glibc.poll(&descriptors, nfds_t(descriptors.count), milliseconds) > 0 else { return [] }
        return zip(order, descriptors).filter { $0.1.revents != 0 }.map(\.0)
    }
}

/// Raises this process's soft open-file limit to its hard limit (tests that open thousands of
/// connections); the soft limit now in force.
@discardableResult
public func raiseOpenFileLimit() -> Int {
    var limit = rlimit()
    getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
    limit.rlim_cur = limit.rlim_max
    setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
    getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
    return Int(clamping: limit.rlim_cur)
}
