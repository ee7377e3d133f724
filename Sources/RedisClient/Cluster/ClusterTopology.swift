/// Which primary serves each slot, as `CLUSTER SLOTS` says (Redis 7.0's `CLUSTER SHARDS` has
/// known bugs, so the older command it is).
struct ClusterTopology: Sendable, Equatable {
    /// The primaries, in the order `CLUSTER SLOTS` named them first.
    private(set) var primaries: [RedisEndpoint]
    /// Per slot, the index of its primary in ``primaries``; -1 when no node serves it.
    private var owners: [Int16]

    /// Reads a `CLUSTER SLOTS` reply: `[[start, end, [host, port, id, ...], replica...], ...]`.
    /// A node that does not know its own address says `""`: that is the node that was asked.
    init(slots reply: RedisReply, askedAt asked: RedisEndpoint) throws(RedisError) {
        primaries = []
        owners = Array(repeating: -1, count: HashSlot.count)
        guard let ranges = reply.array else { throw RedisError(.protocolError, "CLUSTER SLOTS returned \(reply)") }
        for range in ranges {
            guard let parts = range.array, parts.count >= 3,
                  let start = parts[0].int, let end = parts[1].int, 0 <= start, start <= end, end < HashSlot.count,
                  let node = parts[2].array, node.count >= 2, let host = node[0].string, let port = node[1].int
            else { throw RedisError(.protocolError, "CLUSTER SLOTS returned a range it cannot be: \(range)") }
            let primary = RedisEndpoint(host: host.isEmpty || host == "?" ? asked.host : host, port: Int(port))
            let index = primaries.firstIndex(of: primary) ?? {
                primaries.append(primary)
                return primaries.count - 1
            }()
            for slot in Int(start)...Int(end) { owners[slot] = Int16(index) }
        }
        guard !primaries.isEmpty else { throw RedisError(.connectionFailed, "the cluster serves no slot (CLUSTER SLOTS is empty)") }
    }

    /// The primary that serves `slot`, if any.
    func primary(for slot: HashSlot) -> RedisEndpoint? {
        let index = owners[Int(slot.rawValue)]
        return index < 0 ? nil : primaries[Int(index)]
    }

    /// True when `endpoint` serves `slot`.
    func serves(_ endpoint: RedisEndpoint, _ slot: HashSlot) -> Bool { primary(for: slot) == endpoint }

    /// A `MOVED` reply: `slot` is served by `endpoint` from now on.
    mutating func move(_ slot: HashSlot, to endpoint: RedisEndpoint) {
        let index = primaries.firstIndex(of: endpoint) ?? {
            primaries.append(endpoint)
            return primaries.count - 1
        }()
        owners[Int(slot.rawValue)] = Int16(index)
    }
}

/// How a cluster node's error reply says to go on (Redis Cluster specification, "Redirection and
/// resharding"; valkey-swift's `getRetryAction`).
enum ClusterRetry: Equatable {
    /// `MOVED slot host:port`: the slot lives there now; update the map and resend.
    case moved(HashSlot, RedisEndpoint)
    /// `ASK slot host:port`: the slot is migrating; send this one command there after `ASKING`.
    case ask(RedisEndpoint)
    /// The command did not run and may later (`TRYAGAIN` during a migration of a multi-key
    /// command, `CLUSTERDOWN`, `MASTERDOWN`, `LOADING`, or a connection that never opened): wait a
    /// little and resend, with a fresh map when the cluster's shape may have changed.
    case backoff(refresh: Bool)

    var isRedirection: Bool {
        if case .backoff = self { false } else { true }
    }

    /// The action for `error`; nil when the error is the caller's (including every error after
    /// which the command may have run: it is never sent twice).
    init?(_ error: RedisError) {
        if error.code == .connectionFailed {
            self = .backoff(refresh: true)
            return
        }
        guard error.code == .server else { return nil }
        let words = error.message.split(separator: " ")
        switch words.first {
        case "MOVED", "ASK":
            guard words.count >= 3, let number = UInt16(words[1]), let slot = HashSlot(rawValue: number),
                  let colon = words[2].lastIndex(of: ":"), let port = Int(words[2][words[2].index(after: colon)...])
            else { return nil }
            let endpoint = RedisEndpoint(host: String(words[2][..<colon]), port: port)
            self = words[0] == "MOVED" ? .moved(slot, endpoint) : .ask(endpoint)
        case "TRYAGAIN", "LOADING":
            self = .backoff(refresh: false)
        case "CLUSTERDOWN", "MASTERDOWN":
            self = .backoff(refresh: true)
        default:
            return nil
        }
    }
}
