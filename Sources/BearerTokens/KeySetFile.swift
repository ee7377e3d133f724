import Foundation
import JWTKit

/// An identity provider's public keys: a JSON Web Key Set (RFC 7517) in a file, which the
/// provider's tooling rewrites when it rotates keys.
public struct KeySetFile: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    /// What identifies one version of the file: a rewrite changes the modification time or the
    /// size, a replacement by rename the inode.
    struct Stamp: Equatable {
        var modified: Date?
        var size: Int?
        var inode: Int?
    }

    /// The file's stamp now (all nil when it cannot be read).
    func stamp() -> Stamp {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        return Stamp(modified: attributes?[.modificationDate] as? Date, size: (attributes?[.size] as? NSNumber)?.intValue,
                     inode: (attributes?[.systemFileNumber] as? NSNumber)?.intValue)
    }

    /// The keys tokens may be signed with, by `kid`: RSA keys (RS256) and EC P-256 keys (ES256),
    /// with no `alg` or that one. Other keys (other curves or algorithms, e.g. RS512 or PS256)
    /// are left out and named in `skipped`.
    func read() throws(TokenRejection) -> (keys: [JWK], skipped: [String]) {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw TokenRejection("the key set \(path) cannot be read: \(error.localizedDescription)")
        }
        let set: JWKS
        do {
            set = try JSONDecoder().decode(JWKS.self, from: data)
        } catch {
            throw TokenRejection("the key set \(path) is not a JSON Web Key Set (`{\"keys\": [...]}`)")
        }
        var keys: [JWK] = []
        var skipped: [String] = []
        for key in set.keys {
            let name = key.keyIdentifier?.string ?? "(no kid)"
            if key.keyIdentifier == nil {
                skipped.append("\(name): no kid")
            } else if (key.keyType == .rsa && [nil, .rs256].contains(key.algorithm))
                        || (key.keyType == .ecdsa && key.curve == .ecdsa(.p256) && [nil, .es256].contains(key.algorithm)) {
                keys.append(key)
            } else {
                skipped.append("\(name): a \(key.keyType.rawValue) \(key.curve?.rawValue ?? "") key for \(key.algorithm?.rawValue ?? "any algorithm"), not RS256 or ES256")
            }
        }
        guard !keys.isEmpty else {
            throw TokenRejection("the key set \(path) has no RSA or P-256 key with a kid")
        }
        return (keys, skipped)
    }
}
