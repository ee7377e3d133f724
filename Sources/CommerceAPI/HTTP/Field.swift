import CommerceStore
import Hummingbird

/// Validation of request fields against the contract's ranges. Every failure is a 400
/// `INVALID_REQUEST` whose detail names the field, e.g. "`amount`: must be from 1 to 100,000,000".
enum Field {
    /// Ids are positive 64-bit integers.
    static func id(_ value: Int64, _ name: String) throws -> Int64 {
        guard value > 0 else { throw Problem.invalidRequest("`\(name)`: must be a positive integer id") }
        return value
    }

    static func integer(_ value: Int64, in range: ClosedRange<Int64>, _ name: String) throws -> Int64 {
        guard range.contains(value) else {
            throw Problem.invalidRequest("`\(name)`: must be from \(grouped(range.lowerBound)) to \(grouped(range.upperBound))")
        }
        return value
    }

    /// A display name: plain text (see `isPlainText`), not only white space.
    static func name(_ value: String, _ name: String) throws -> String {
        guard isPlainText(value), value.unicodeScalars.contains(where: { !$0.properties.isWhitespace }) else {
            throw Problem.invalidRequest("`\(name)`: must be 1 to 200 characters, not only spaces, no control characters")
        }
        return value
    }

    /// 1 to 200 Unicode code points and no control characters. Code points are what JSON Schema's
    /// `maxLength` (openapi.yaml) and the tables' `CHECK (length(...) ...)` count; grapheme
    /// clusters would let "e\u{301}" through at half its length. Control characters are refused
    /// because none belongs in a name or key and because SQLite's `length()` stops at NUL, so
    /// a name starting with one would fail the CHECK as a 500 rather than this 400.
    static func isPlainText(_ value: String) -> Bool {
        (1...200).contains(value.unicodeScalars.count)
            && !value.unicodeScalars.contains { $0.properties.generalCategory == .control }
    }

    /// An RFC 3339 time such as `2026-11-22T09:30:00Z`.
    static func timestamp(_ value: String, _ name: String) throws -> Timestamp {
        guard let time = Timestamp(rfc3339: value) else {
            throw Problem.invalidRequest("`\(name)`: must be an RFC 3339 time such as 2026-11-22T09:30:00Z")
        }
        return time
    }

    /// 1000000 → "1,000,000", so range messages read like the contract.
    static func grouped(_ value: Int64) -> String {
        let digits = String(value.magnitude)
        var out = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(digit)
        }
        return value < 0 ? "-" + out : out
    }
}

extension Field {
    static let price: ClosedRange<Int64> = 0...1_000_000_000
    static let stock: ClosedRange<Int64> = 0...1_000_000_000
    static let limit: ClosedRange<Int64> = 1...100
    static let defaultLimit = 20
}

extension Request {
    /// A required positive id from the query string, e.g. `?user_id=1`.
    func queryID(_ name: String) throws -> Int64 {
        guard let text = uri.queryParameters[Substring(name)] else {
            throw Problem.invalidRequest("`\(name)`: is required in the query string")
        }
        guard let value = Int64(text) else { throw Problem.invalidRequest("`\(name)`: must be a positive integer id") }
        return try Field.id(value, name)
    }

    /// `?limit=` within 1...100, 20 when absent.
    func queryLimit() throws -> Int {
        guard let text = uri.queryParameters["limit"] else { return Field.defaultLimit }
        guard let value = Int64(text) else { throw Problem.invalidRequest("`limit`: must be an integer from 1 to 100") }
        return Int(try Field.integer(value, in: Field.limit, "limit"))
    }
}

extension RequestContext {
    /// A positive id from the path, e.g. `{item_id}`.
    func pathID(_ name: String) throws -> Int64 {
        guard let value = parameters.get(name, as: Int64.self) else {
            throw Problem.invalidRequest("`\(name)`: must be a positive integer id")
        }
        return try Field.id(value, name)
    }
}
