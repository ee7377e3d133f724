/// A JSON object whose every value is an integer or a plain string, such as
/// `{"user_id": 1, "coupon_id": 7}` or a JWT's `{"sub":"42","exp":1795389908}`, read straight
/// from the bytes. The coupon burst's bodies and every new token's header and claims are like
/// that, and Foundation's `JSONDecoder` (generic, unspecialized across modules) was the largest
/// cost of a refused request after the HTTP parsing itself. Anything else (nesting, fractions, escapes, `null`, booleans, duplicate keys, bad
/// JSON) gives nil, and the caller decodes with `JSONDecoder` instead, which also explains what
/// is wrong.
public struct FlatJSONObject: Sendable {
    public enum Value: Equatable, Sendable {
        case integer(Int64)
        case string(String)
    }

    /// The fields in the order they came.
    public private(set) var fields: [(name: String, value: Value)] = []

    /// The integer under `name`; nil when absent or not an integer.
    public subscript(name: String) -> Int64? {
        guard case .integer(let value)? = fields.first(where: { $0.name == name })?.value else { return nil }
        return value
    }

    /// The string under `name`; nil when absent or not a string.
    public func string(_ name: String) -> String? {
        guard case .string(let value)? = fields.first(where: { $0.name == name })?.value else { return nil }
        return value
    }

    /// Whether the object has `name` at all.
    public func contains(_ name: String) -> Bool { fields.contains { $0.name == name } }

    public init?(_ bytes: UnsafeRawBufferPointer) {
        guard let fields = Self.parse(bytes) else { return nil }
        self.fields = fields
    }

    public init?(_ bytes: [UInt8]) {
        guard let fields = bytes.withUnsafeBytes({ Self.parse($0) }) else { return nil }
        self.fields = fields
    }

    private static func parse(_ bytes: UnsafeRawBufferPointer) -> [(name: String, value: Value)]? {
        var index = 0
        func skipSpace() {
            while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 {
                index += 1
            }
        }
        func take(_ byte: UInt8) -> Bool {
            skipSpace()
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }
        /// A string without escapes or control characters, the opening quote already taken.
        func plainString() -> String? {
            let start = index
            while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
                guard bytes[index] != UInt8(ascii: "\\"), bytes[index] >= 0x20 else { return nil }
                index += 1
            }
            guard index < bytes.count else { return nil }
            defer { index += 1 }
            return String(validating: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        }
        func integer() -> Int64? {
            let negative = index < bytes.count && bytes[index] == UInt8(ascii: "-")
            if negative { index += 1 }
            let digitsStart = index
            var value: Int64 = 0
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
                let digit = Int64(bytes[index] - UInt8(ascii: "0"))
                let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
                let (next, overflow2) = negative ? times10.subtractingReportingOverflow(digit) : times10.addingReportingOverflow(digit)
                guard !overflow1, !overflow2 else { return nil }
                value = next
                index += 1
            }
            let digits = index - digitsStart
            // JSON forbids leading zeros; fractions and exponents are left to the full decoder.
            guard digits > 0, digits == 1 || bytes[digitsStart] != UInt8(ascii: "0"),
                  index == bytes.count || (bytes[index] != UInt8(ascii: ".") && bytes[index] | 0x20 != UInt8(ascii: "e"))
            else { return nil }
            return value
        }
        var fields: [(name: String, value: Value)] = []
        guard take(UInt8(ascii: "{")) else { return nil }
        if take(UInt8(ascii: "}")) {
            skipSpace()
            return index == bytes.count ? fields : nil
        }
        repeat {
            guard take(UInt8(ascii: "\"")), let name = plainString(), take(UInt8(ascii: ":")) else { return nil }
            skipSpace()
            let value: Value
            if index < bytes.count, bytes[index] == UInt8(ascii: "\"") {
                index += 1
                guard let string = plainString() else { return nil }
                value = .string(string)
            } else {
                guard let number = integer() else { return nil }
                value = .integer(number)
            }
            guard !fields.contains(where: { $0.name == name }) else { return nil }
            fields.append((name, value))
        } while take(UInt8(ascii: ","))
        guard take(UInt8(ascii: "}")) else { return nil }
        skipSpace()
        return index == bytes.count ? fields : nil
    }
}
