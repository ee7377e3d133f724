#if canImport(Glibc)
import Glibc
#endif
import Logging

/// swift-log's `StreamLogHandler` line format (`<time> <level> <label>: <metadata> [<source>]
/// <message>`) on standard output, with the metadata formatted when a line is written rather
/// than whenever it changes: Hummingbird gives every request's logger a request id, and the
/// stream handler formatted every request's metadata although nearly none of them ever logs.
struct StandardOutputLogHandler: LogHandler {
    private let label: String
    var logLevel: Logger.Level = .info
    var metadata = Logger.Metadata()

    init(label: String) {
        self.label = label
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var all = metadata
        if let explicit = event.metadata { all.merge(explicit) { $1 } }
        if let error = event.error {
            all["error.message"] = "\(error)"
            all["error.type"] = "\(String(reflecting: type(of: error)))"
        }
        let pretty = all.isEmpty ? "" : " " + all.sorted { $0.key < $1.key }.map { "\($0)=\($1)" }.joined(separator: " ")
        let line = "\(Self.timestamp()) \(event.level) \(label):\(pretty) [\(event.source)] \(event.message)\n"
        // One write(2) per line, unbuffered: lines of concurrent tasks do not interleave (up to
        // PIPE_BUF bytes), and a reader of a pipe (a test, a supervisor) sees each at once.
        var bytes = Array(line.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }
            bytes = bytes.dropFirst(written)
        }
    }

    private static func timestamp() -> String {
        var now = time(nil)
        var local = tm()
        guard localtime_r(&now, &local) != nil else { return "<unknown>" }
        var buffer = [CChar](repeating: 0, count: 64)
        strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &local)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
