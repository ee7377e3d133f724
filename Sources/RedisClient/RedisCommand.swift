import CHiredis
import NIOCore

/// A command encoded in the Redis protocol, ready to be written.
///
/// hiredis formats it (`redisFormatCommandArgv`), so what goes on the wire is exactly what the
/// reference C client would send, for any bytes in any argument.
///
/// The command knows the slot of its keys (the arguments marked ``RedisArgument/key(_:)``), which
/// is where a cluster sends it; a command without keys may go to any node. All keys of one
/// command must share a slot (a cluster refuses anything else with `CROSSSLOT`): the caller's
/// obligation, checked in debug builds so that tests on one Redis catch what a cluster would refuse.
public struct RedisCommand: Sendable {
    let encoded: ByteBuffer
    /// The command name, for logs.
    public let name: String
    /// The slot of the command's keys; nil for a command without keys.
    public let slot: HashSlot?

    /// - Parameter keysShareSlot: false for a command meant for one Redis server only, whose
    ///   keys may sit in different slots (its ``slot`` is then its first key's).
    public init(_ arguments: [RedisArgument], keysShareSlot: Bool = true) {
        precondition(!arguments.isEmpty, "a Redis command needs a name")
        self.name = String(decoding: arguments[0].bytes, as: UTF8.self)
        self.encoded = Self.format(arguments)
        let firstKey = arguments.first(where: \.isKey)
        self.slot = firstKey.map { HashSlot(key: $0.bytes) }
        assert(!keysShareSlot || arguments.allSatisfy { !$0.isKey || HashSlot(key: $0.bytes) == slot },
               "the keys of one \(name) must share a slot (hash tag)")
    }

    public init(_ arguments: RedisArgument...) {
        self.init(arguments)
    }

    private static func format(_ arguments: [RedisArgument]) -> ByteBuffer {
        // hiredis takes an array of pointers and lengths: lay every argument out in one array
        // (plus a trailing byte so even an all-empty command has a valid base address).
        var storage: [CChar] = []
        storage.reserveCapacity(arguments.reduce(1) { $0 + $1.bytes.count })
        var lengths: [Int] = []
        lengths.reserveCapacity(arguments.count)
        for argument in arguments {
            storage.append(contentsOf: argument.bytes.lazy.map { CChar(bitPattern: $0) })
            lengths.append(argument.bytes.count)
        }
        storage.append(0)
        return storage.withUnsafeBufferPointer { base in
            var pointers: [UnsafePointer<CChar>?] = []
            pointers.reserveCapacity(arguments.count)
            var offset = 0
            for length in lengths {
                pointers.append(base.baseAddress! + offset)
                offset += length
            }
            var target: UnsafeMutablePointer<CChar>?
            let count = redisFormatCommandArgv(&target, Int32(arguments.count), &pointers, lengths)
            precondition(count > 0 && target != nil, "hiredis could not format a command (out of memory)")
            defer { redisFreeCommand(target) }
            var buffer = ByteBufferAllocator().buffer(capacity: Int(count))
            buffer.writeBytes(UnsafeRawBufferPointer(start: target, count: Int(count)))
            return buffer
        }
    }
}
