import FlatJSON
import Foundation
import Hummingbird

/// JSON request bodies: decoded with a body limit, and with decoding failures explained in
/// terms of the field a client got wrong.
enum JSONBody {
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, context: some RequestContext) async throws -> T {
        try decode(T.self, from: try await request.body.collect(upTo: context.maxUploadSize))
    }

    /// As above, reading the common well-formed body without Foundation (see ``FlatJSONObject``).
    static func decode<T: IntegerFieldsBody>(_ type: T.Type, from request: Request, context: some RequestContext) async throws -> T {
        let body = try await request.body.collect(upTo: context.maxUploadSize)
        if let object = body.withUnsafeReadableBytes({ FlatJSONObject($0) }), let value = T(object) { return value }
        return try decode(T.self, from: body)
    }

    private static func decode<T: Decodable>(_ type: T.Type, from body: ByteBuffer) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: body)
        } catch let error as DecodingError {
            if case .dataCorrupted(let context) = error, context.codingPath.isEmpty,
               let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) {
                // Foundation reports a number that is not a 64-bit integer (1.5, 1e30) as invalid
                // JSON without a path; every number in this API is an integer, so find it.
                throw Problem.invalidRequest(nonInteger(in: object).map { "`\($0)`: expected an integer" }
                                             ?? "the body does not match the expected JSON")
            }
            throw Problem.invalidRequest(describe(error))
        }
    }

    /// The path of the first number in `value` that is not a 64-bit integer.
    private static func nonInteger(in value: Any, path: String = "") -> String? {
        switch value {
        case let object as [String: Any]:
            return object.keys.sorted().lazy.compactMap { key in
                nonInteger(in: object[key]!, path: path.isEmpty ? key : "\(path).\(key)")
            }.first
        case let array as [Any]:
            return array.indices.lazy.compactMap { nonInteger(in: array[$0], path: "\(path)[\($0)]") }.first
        case let number as NSNumber where !(value is Bool):
            return Int64(exactly: number.doubleValue) == nil || number.doubleValue.rounded() != number.doubleValue ? path : nil
        default:
            return nil
        }
    }

    /// A sentence naming the field at fault, e.g. "`amount`: expected an integer".
    static func describe(_ error: DecodingError) -> String {
        func path(_ codingPath: [any CodingKey]) -> String {
            let names = codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return names.isEmpty ? "body" : names.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "`\(path(context.codingPath + [key]))`: is required"
        case .typeMismatch(let type, let context):
            return "`\(path(context.codingPath))`: expected \(describe(type))"
        case .valueNotFound(let type, let context):
            return "`\(path(context.codingPath))`: expected \(describe(type)), found null"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty
                ? "the body is not valid JSON"
                : "`\(path(context.codingPath))`: \(context.debugDescription)"
        @unknown default:
            return "the body does not match the expected JSON"
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is any BinaryInteger.Type: return "an integer"
        case is String.Type: return "a string"
        case is Bool.Type: return "a boolean"
        default: return type is any Collection.Type ? "an array" : "an object"
        }
    }
}

extension KeyedDecodingContainer {
    /// The value under `key`, or nil when the key is absent. Unlike `decodeIfPresent`, an
    /// explicit `null` is an error (`valueNotFound`, a 400 naming the field).
    func decodeUnlessAbsent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard contains(key) else { return nil }
        return try decode(type, forKey: key)
    }
}

/// A request body of integer fields only, which ``JSONBody`` reads through ``FlatJSONObject``
/// when it can.
protocol IntegerFieldsBody: Decodable {
    /// The body from its fields; nil when a field is missing or not an integer (the full
    /// decoder then says which).
    init?(_ object: FlatJSONObject)
}
