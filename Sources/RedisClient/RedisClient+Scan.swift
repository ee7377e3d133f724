extension RedisClient {
    /// One step of a SCAN-family cursor (`SCAN`, `HSCAN`, ...; `arguments` start with the command
    /// name): the next cursor ("0": done) and this step's elements.
    public func scanStep(_ arguments: RedisArgument...) async throws -> (next: String, elements: [RedisReply]) {
        let reply = try await send(RedisCommand(arguments))
        guard let parts = reply.array, parts.count == 2, let next = parts[0].string, let elements = parts[1].array else {
            throw RedisError(.protocolError, "\(String(decoding: arguments[0].bytes, as: UTF8.self)) returned \(reply)")
        }
        return (next, elements)
    }
}
