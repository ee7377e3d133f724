/// One of Redis Cluster's 16,384 slots: the CRC16 (XMODEM) of a key's hash tag, modulo 16,384.
///
/// The hash tag is the part between the first `{` and the next `}` when that part is not empty,
/// else the whole key; so `coupon:{7}:remaining` and `coupon:{7}:issued` share a slot, which is
/// what lets one script touch both.
public struct HashSlot: Hashable, Sendable, Comparable, CustomStringConvertible {
    public static let count = 16_384

    public let rawValue: UInt16

    public init?(rawValue: UInt16) {
        guard Int(rawValue) < Self.count else { return nil }
        self.rawValue = rawValue
    }

    /// The slot of `key`.
    public init(key: some Collection<UInt8>) {
        rawValue = Self.crc16(Self.hashTag(of: key)) & UInt16(Self.count - 1)
    }

    public init(key: String) {
        self.init(key: key.utf8)
    }

    /// The bytes the slot is computed from (Redis Cluster specification, "Hash tags").
    static func hashTag<Key: Collection<UInt8>>(of key: Key) -> Key.SubSequence {
        guard let open = key.firstIndex(of: UInt8(ascii: "{")) else { return key[...] }
        let afterOpen = key.index(after: open)
        guard let close = key[afterOpen...].firstIndex(of: UInt8(ascii: "}")), close != afterOpen else { return key[...] }
        return key[afterOpen..<close]
    }

    /// CRC16-CCITT as Redis computes it (XMODEM: polynomial 0x1021, initial value 0).
    static func crc16(_ bytes: some Sequence<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc = (crc << 8) ^ crc16Table[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)]
        }
        return crc
    }

    private static let crc16Table: [UInt16] = (0..<256).map { index in
        var crc = UInt16(index) << 8
        for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        return crc
    }

    public static func < (lhs: HashSlot, rhs: HashSlot) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { String(rawValue) }
}
