import CHiredis

/// Incremental reply parser over hiredis' `redisReader`: feed it bytes as they arrive, take
/// complete replies out in order.
///
/// Not thread-safe: it belongs to one connection's channel handler on one event loop.
final class RedisReplyParser {
    private let reader: UnsafeMutablePointer<redisReader>

    init() {
        guard let reader = redisReaderCreate() else { fatalError("hiredis: out of memory") }
        self.reader = reader
    }

    deinit { redisReaderFree(reader) }

    func feed(_ bytes: UnsafeRawBufferPointer) throws(RedisError) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        if redisReaderFeed(reader, base.assumingMemoryBound(to: CChar.self), bytes.count) != REDIS_OK {
            throw parseError()
        }
    }

    /// The next complete reply, or nil when more bytes are needed.
    func next() throws(RedisError) -> RedisReply? {
        var raw: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &raw) == REDIS_OK else { throw parseError() }
        guard let raw else { return nil }
        let reply = raw.assumingMemoryBound(to: redisReply.self)
        defer { freeReplyObject(raw) }
        return Self.convert(reply.pointee)
    }

    private func parseError() -> RedisError {
        RedisError(.protocolError, "unparsable reply: " + String(cString: chiredis_reader_error(reader)))
    }

    private static func convert(_ reply: redisReply) -> RedisReply {
        switch reply.type {
        case REDIS_REPLY_INTEGER:
            return .integer(Int64(reply.integer))
        case REDIS_REPLY_STRING:
            return .bulk(bytes(reply))
        case REDIS_REPLY_STATUS:
            return .status(String(decoding: bytes(reply), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            return .error(String(decoding: bytes(reply), as: UTF8.self))
        case REDIS_REPLY_ARRAY:
            return .array((0..<reply.elements).map { convert(reply.element[$0]!.pointee) })
        default:
            return .null
        }
    }

    private static func bytes(_ reply: redisReply) -> [UInt8] {
        guard let str = reply.str, reply.len > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: str, count: Int(reply.len)))
    }
}
