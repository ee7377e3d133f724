import CommerceStore
import Foundation
import Hummingbird

/// An RFC 9457 problem: the one shape every failed request is answered with
/// (`application/problem+json`). `code` is the stable, machine-readable part of the contract.
public struct Problem: HTTPResponseError, Sendable, Equatable {
    public let status: HTTPResponse.Status
    public let code: String
    public let detail: String
    /// Extension members beside the standard ones (e.g. `checks` on a failed readiness probe).
    public var extensions: [String: [String: String]] = [:]
    /// Extra response headers, e.g. `Retry-After`.
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, code: String, detail: String) {
        self.status = status
        self.code = code
        self.detail = detail
    }

    public static func invalidRequest(_ detail: String) -> Problem {
        Problem(.badRequest, code: "INVALID_REQUEST", detail: detail)
    }

    public static func serviceUnavailable(_ detail: String) -> Problem {
        Problem(.serviceUnavailable, code: "SERVICE_UNAVAILABLE", detail: detail)
    }

    /// The problem a business-rule refusal is answered with: 404 for the `*_NOT_FOUND` codes,
    /// 409 for every other rule.
    public init(_ error: CommerceError) {
        self.init(error.code.isNotFound ? .notFound : .conflict, code: error.code.name, detail: error.message)
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var fields = headers
        fields[.contentType] = "application/problem+json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: try body())))
    }

    /// The problem+json document.
    func body() throws -> [UInt8] {
        var body: [String: any Sendable] = [
            "type": "about:blank",
            "title": status.reasonPhrase,
            "status": status.code,
            "detail": detail,
            "code": code,
        ]
        for (key, value) in extensions { body[key] = value }
        return Array(try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys, .withoutEscapingSlashes]))
    }
}
