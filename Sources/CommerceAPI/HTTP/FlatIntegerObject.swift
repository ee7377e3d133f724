import NIOCore

/// A JSON object whose every value is an integer, such as `{"user_id": 1, "coupon_id": 7}`,
/// read straight from the bytes. The coupon burst's bodies are all like that, and Foundation's
/// `JSONDecoder` was the largest cost of a refused request after the HTTP parsing itself.
/// Anything else (nesting, strings, fractions, escapes, duplicate keys, bad JSON) gives nil, and
/// the caller decodes with `JSONDecoder` instead, which also explains what is wrong.
struct FlatIntegerObject {
    private var fields: [(name: String, value: Int64)] = []

    subscript(name: String) -> Int64? {
        fields.first { $0.name == name }?.value
    }

    init?(_ buffer: ByteBuffer) {
        guard let fields = buffer.withUnsafeReadableBytes({ Self.parse($0) }) else { return nil }
        self.fields = fields
    }

    private static func parse(_ bytes: UnsafeRawBufferPointer) -> [(name: String, value: Int64)]? {
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
        var fields: [(name: String, value: Int64)] = []
        guard take(UInt8(ascii: "{")) else { return nil }
        if take(UInt8(ascii: "}")) {
            skipSpace()
            return index == bytes.count ? fields : nil
        }
        repeat {
            guard take(UInt8(ascii: "\"")) else { return nil }
            let start = index
            while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
                guard bytes[index] != UInt8(ascii: "\\"), bytes[index] >= 0x20 else { return nil }
                index += 1
            }
            guard index < bytes.count else { return nil }
            let name = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            index += 1
            guard take(UInt8(ascii: ":")) else { return nil }
            skipSpace()
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
                  index == bytes.count || (bytes[index] != UInt8(ascii: ".") && bytes[index] | 0x20 != UInt8(ascii: "e")),
                  !fields.contains(where: { $0.name == name }) else { return nil }
            fields.append((name, value))
        } while take(UInt8(ascii: ","))
        guard take(UInt8(ascii: "}")) else { return nil }
        skipSpace()
        return index == bytes.count ? fields : nil
    }
}

/// A request body of integer fields only, which ``JSONBody`` reads through ``FlatIntegerObject``
/// when it can.
protocol IntegerFieldsBody: Decodable {
    /// The body from its fields; nil when a field is missing (the full decoder then says which).
    init?(_ object: FlatIntegerObject)
}
