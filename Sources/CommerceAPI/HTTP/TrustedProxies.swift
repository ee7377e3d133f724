import Foundation
import HTTPTypes
#if canImport(Glibc)
import Glibc
#endif

/// The networks whose `X-Forwarded-For` is believed (`--trusted-proxy`): behind a load balancer
/// every connection comes from the balancer, and the client's address (the per-address rate
/// limit's key) is only in that header. Anyone can send the header, so it counts only when the
/// connection comes from a trusted proxy, and only as far as a chain of trusted proxies reaches.
public struct TrustedProxies: Sendable, Equatable {
    private let networks: [Network]

    /// No proxy is trusted: the address is always the connection's peer.
    public static let none = TrustedProxies(networks: [])

    private init(networks: [Network]) {
        self.networks = networks
    }

    /// `CIDR[,CIDR...]` (`10.0.0.0/8`, `::1`, `192.168.1.7`; a bare address is one host); nil if
    /// any is not an IPv4 or IPv6 network.
    public init?(_ list: String) {
        var networks: [Network] = []
        for entry in list.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = entry.trimmingCharacters(in: .whitespaces).split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count <= 2, let bytes = Self.parse(String(parts[0])) else { return nil }
            let prefix = parts.count == 2 ? Int(parts[1]) : bytes.count * 8
            guard let prefix, (0...bytes.count * 8).contains(prefix) else { return nil }
            networks.append(Network(bytes: bytes, prefix: prefix))
        }
        self.networks = networks
    }

    /// The client's address for a connection from `peer` carrying `forwardedFor`: the peer
    /// unless it is a trusted proxy; then the rightmost address in the header that is not a
    /// trusted proxy (each proxy appends the address it was connected from; what lies left of
    /// the first untrusted one is whatever that client chose to write). A malformed entry ends
    /// the walk at the last address known good.
    public func clientAddress(peer: String, forwardedFor: String?) -> String {
        guard !networks.isEmpty, let forwardedFor, let peerBytes = Self.parse(peer), isTrusted(peerBytes) else { return peer }
        var client = peer
        for hop in forwardedFor.split(separator: ",").reversed() {
            let address = hop.trimmingCharacters(in: .whitespaces)
            guard let bytes = Self.parse(address) else { return client }
            client = address
            if !isTrusted(bytes) { return client }
        }
        return client
    }

    /// The client's address for `request` on a connection from `peer`.
    func clientAddress(peer: String, request: HTTPRequest) -> String {
        networks.isEmpty ? peer : clientAddress(peer: peer, forwardedFor: request.headerFields[Self.forwardedFor])
    }

    private static let forwardedFor = HTTPField.Name("X-Forwarded-For")!

    private func isTrusted(_ address: [UInt8]) -> Bool {
        networks.contains { $0.contains(address) }
    }

    private struct Network: Sendable, Equatable {
        let bytes: [UInt8]
        let prefix: Int

        func contains(_ address: [UInt8]) -> Bool {
            guard address.count == bytes.count else { return false }
            let whole = prefix / 8
            guard address.prefix(whole) == bytes.prefix(whole) else { return false }
            let rest = prefix % 8
            guard rest > 0 else { return true }
            let mask = UInt8(0xff) << (8 - rest)
            return address[whole] & mask == bytes[whole] & mask
        }
    }

    /// An address's bytes: 4 for IPv4 (also when written as IPv4-mapped IPv6), 16 for IPv6.
    private static func parse(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        let mappedPrefix: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]
        return bytes.starts(with: mappedPrefix) ? Array(bytes.suffix(4)) : bytes
    }
}
