import CommerceCore
import CommerceStore
import FlatJSON
import Hummingbird

/// JSON responses written from the models' own shapes (see ``JSONWriter``).
enum JSONResponse {
    static func response(status: HTTPResponse.Status, _ value: some JSONWritable) -> Response {
        response(status: status, bytes: JSONWriter.encode(value))
    }

    /// A response from encoded bytes; 4xx/5xx bodies are problems and say so in the content type.
    static func response(status: HTTPResponse.Status, bytes: [UInt8], headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = status.code >= 400 ? "application/problem+json" : "application/json; charset=utf-8"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
