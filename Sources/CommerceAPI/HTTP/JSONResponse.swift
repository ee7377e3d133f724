import Foundation
import Hummingbird

/// JSON responses built from the models' own `Encodable` shapes (snake_case keys, RFC 3339 times).
enum JSONResponse {
    static func bytes(_ value: some Encodable) throws -> [UInt8] {
        Array(try encoder.encode(value))
    }

    /// Sorted keys: the same value always gives the same bytes (the encoder's own key order varies).
    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    static func response(status: HTTPResponse.Status, _ value: some Encodable) throws -> Response {
        response(status: status, bytes: try bytes(value))
    }

    /// A response from encoded bytes; 4xx/5xx bodies are problems and say so in the content type.
    static func response(status: HTTPResponse.Status, bytes: [UInt8], headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = status.code >= 400 ? "application/problem+json" : "application/json; charset=utf-8"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
