import CommerceCore
import CommerceStore
import FlatJSON
import Foundation
import Hummingbird
import RedisClient

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

    /// Sets `Retry-After` to `wait` in whole seconds, rounded up (a client waiting that long
    /// finds what it waits for), at least one.
    mutating func retryAfter(_ wait: Duration) {
        headers[.retryAfter] = String(max(1, (wait.wholeMilliseconds + 999) / 1000))
    }

    /// The problem a business-rule refusal is answered with: 404 for the `*_NOT_FOUND` codes,
    /// 409 for every other rule.
    public init(_ error: CommerceError) {
        self.init(error.code.isNotFound ? .notFound : .conflict, code: error.code.name, detail: error.message)
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var fields = headers
        fields[.contentType] = "application/problem+json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body())))
    }

    /// The problem+json document, in the contract's field order. Written by hand: refusals
    /// such as COUPON_SOLD_OUT are the whole answer of a burst after a sell-out, and
    /// `JSONSerialization` (sorting keys through ICU) cost more than everything else per request.
    func body() -> [UInt8] {
        var json = JSONWriter()
        json.object { fields in
            fields.field("type", "about:blank")
            fields.field("title", status.reasonPhrase)
            fields.field("status", Int64(status.code))
            fields.field("detail", detail)
            fields.field("code", code)
            for (name, members) in extensions.sorted(by: { $0.key < $1.key }) {
                fields.field(name) { json in
                    json.object { inner in
                        for (key, value) in members.sorted(by: { $0.key < $1.key }) { inner.field(key, value) }
                    }
                }
            }
        }
        return json.bytes
    }
}
