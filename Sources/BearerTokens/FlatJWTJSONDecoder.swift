import FlatJSON
import Foundation
import JWTKit

/// jwt-kit's JSON decoder for token headers and claims, reading the usual flat ones
/// (`{"alg":"HS256","typ":"JWT"}`, `{"sub":"42","exp":1795389908,"role":"admin"}`) with
/// ``FlatJSONObject``. Every new token is decoded twice, and Foundation's `JSONDecoder`, generic
/// and unspecialized across modules, was most of a refused issue request's token cost
/// (`scripts/profile-coupons`). Anything else (nested values, an `aud` list, fractions, escapes)
/// goes to `JSONDecoder`.
struct FlatJWTJSONDecoder: JWTJSONDecoder {
    private static let full = JSONDecoder()

    func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        if let object = data.withUnsafeBytes({ FlatJSONObject($0) }) {
            if T.self == JWTHeader.self, let header = JWTHeader(object) as? T { return header }
            if T.self == TokenClaims.self, let claims = TokenClaims(object).flatMap({ $0 as? T }) { return claims }
        }
        return try Self.full.decode(T.self, from: data)
    }
}

extension JWTHeader {
    init(_ object: FlatJSONObject) {
        var fields: [String: JWTHeaderField] = [:]
        for (name, value) in object.fields {
            switch value {
            case .string(let string): fields[name] = .string(string)
            case .integer(let integer): fields[name] = .int(Int(integer))
            }
        }
        self.init(fields: fields)
    }
}

extension TokenClaims {
    /// nil when a claim is missing or of another type than read here (the full decoder then
    /// decides, and refuses what is wrong).
    init?(_ object: FlatJSONObject) {
        guard let sub = object.string("sub"), let exp = object["exp"],
              object.string("role") != nil || !object.contains("role"),
              object.string("iss") != nil || !object.contains("iss"),
              object.string("aud") != nil || !object.contains("aud")
        else { return nil }
        self.init(sub: sub, exp: Double(exp), role: object.string("role"), iss: object.string("iss"),
                  aud: object.string("aud").map { AudienceClaim(value: [$0]) })
    }
}
