import NIOCore
import Testing
@testable import RedisClient

@Suite struct RedisProtocolTests {
    @Test func commandsAreEncodedAsRESPArrays() {
        let command = RedisCommand("SET", "k", RedisArgument(bytes: [0, 13, 10]))
        #expect(command.encoded == ByteBuffer(string: "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\n\0\r\n\r\n"))
        #expect(command.name == "SET")
    }

    @Test func parserReassemblesRepliesSplitAcrossReads() throws {
        let parser = RedisReplyParser()
        let wire = Array("+OK\r\n:42\r\n$5\r\nhe\r\nl\r\n*2\r\n$-1\r\n-ERR no\r\n".utf8)
        var replies: [RedisReply] = []
        for byte in wire {
            try [byte].withUnsafeBytes { try parser.feed($0) }
            while let reply = try parser.next() { replies.append(reply) }
        }
        #expect(replies == [.status("OK"), .integer(42), .bulk(Array("he\r\nl".utf8)), .array([.null, .error("ERR no")])])
    }

    @Test func parserRejectsGarbage() throws {
        let parser = RedisReplyParser()
        try Array("?what\r\n".utf8).withUnsafeBytes { try parser.feed($0) }
        #expect(throws: RedisError.self) { try parser.next() }
    }

    @Test func urlsAreParsed() throws {
        let full = try RedisConfiguration(url: "redis://user:p%40ss@redis.internal:6380/2")
        #expect(full.host == "redis.internal")
        #expect(full.port == 6380)
        #expect(full.password == "p@ss")
        #expect(full.database == 2)
        let bare = try RedisConfiguration(url: "redis://127.0.0.1")
        #expect(bare.port == 6379 && bare.database == 0 && bare.password == nil)
        #expect(!full.isCluster && !bare.isCluster)
        let cluster = try RedisConfiguration(url: "redis+cluster://:s3cret@10.0.0.1:7000,10.0.0.2:7001,node-3")
        #expect(cluster.isCluster && cluster.password == "s3cret" && cluster.database == 0)
        #expect(cluster.clusterSeeds.map(\.description) == ["10.0.0.1:7000", "10.0.0.2:7001", "node-3:6379"])
        #expect(cluster.endpoint.description == "10.0.0.1:7000", "the first seed is the one to try first")
        for bad in ["http://x:1/0", "redis://:1/0", "redis://h:99999/0", "redis://h:1/x",
                    "redis+cluster://h:1/3", "redis+cluster://h:1,,h:2", "redis+cluster://h:1,h:0", "redis+cluster://"] {
            #expect(throws: RedisError.self, "\(bad)") { try RedisConfiguration(url: bad) }
        }
    }
}
