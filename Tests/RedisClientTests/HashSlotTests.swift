import Testing
@testable import RedisClient

/// Slot hashing against the Redis Cluster specification's published vectors.
@Suite struct HashSlotTests {
    @Test func crc16MatchesTheSpecificationsVector() {
        #expect(HashSlot.crc16("123456789".utf8) == 0x31C3)
        #expect(HashSlot(key: "123456789").rawValue == 12739)
        #expect(HashSlot.crc16([0xFF, 0xFF, 0x00, 0x00]) == 0x84C0)
    }

    @Test func slotsOfPlainKeys() {
        #expect(HashSlot(key: "foo").rawValue == 12182)
        #expect(HashSlot(key: "bar").rawValue == 5061)
        #expect(HashSlot(key: "").rawValue == 0)
    }

    @Test func hashTagsPutKeysOnOneSlot() {
        #expect(HashSlot(key: "{user1000}.following") == HashSlot(key: "{user1000}.followers"))
        #expect(HashSlot(key: "{user1000}.following") == HashSlot(key: "user1000"))
        #expect(HashSlot(key: "foo{}{bar}") == HashSlot(key: "foo{}{bar}"))
        // An empty tag does not count: the whole key is hashed.
        #expect(HashSlot(key: "foo{}{bar}") != HashSlot(key: "bar"))
        #expect(HashSlot.hashTag(of: Array("foo{}{bar}".utf8)).elementsEqual("foo{}{bar}".utf8))
        // Only the first `{` and the next `}` count.
        #expect(HashSlot(key: "foo{{bar}}zap") == HashSlot(key: "{bar"))
        #expect(HashSlot(key: "foo{bar}{zap}") == HashSlot(key: "bar"))
        // No closing brace: the whole key.
        #expect(HashSlot(key: "foo{bar") != HashSlot(key: "bar"))
        #expect(HashSlot.hashTag(of: Array("foo{bar".utf8)).elementsEqual("foo{bar".utf8))
    }

    @Test func ourKeyFamiliesShareTheirSlots() {
        #expect(HashSlot(key: "coupon:{7}:meta") == HashSlot(key: "coupon:{7}:issued"))
        #expect(HashSlot(key: "coupon:{7}:remaining") == HashSlot(key: "7"))
        #expect(HashSlot(key: "stream:orders") == HashSlot(key: "{stream:orders}:published"))
        #expect(HashSlot(key: "rank:{sales}:20261130") == HashSlot(key: "rank:{sales}:top3:20261128"))
    }

    @Test func aCommandKnowsTheSlotOfItsKeys() {
        #expect(RedisCommand("GET", .key("foo")).slot?.rawValue == 12182)
        #expect(RedisCommand("PING").slot == nil)
        #expect(RedisCommand("SET", "foo", "bar").slot == nil, "unmarked arguments are not keys")
    }
}
