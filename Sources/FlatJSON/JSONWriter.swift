/// A value with a fixed JSON shape, written field by field in a stated order.
public protocol JSONWritable {
    func write(to json: inout JSONWriter)
}

/// Writes JSON straight into bytes. The models are written on every response and event, and
/// Foundation's `JSONEncoder` (a generic, dictionary-backed encoder) was the largest single CPU
/// cost of placing an order; this writer only appends bytes, and keeps fields in the order the
/// contract lists them.
public struct JSONWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    private var needsComma = false

    public init() {
        bytes.reserveCapacity(512)
    }

    /// The bytes of `value`.
    public static func encode(_ value: some JSONWritable) -> [UInt8] {
        var writer = JSONWriter()
        value.write(to: &writer)
        return writer.bytes
    }

    /// `{...}` holding what `fields` writes.
    public mutating func object(_ fields: (inout JSONWriter) -> Void) {
        nested(open: UInt8(ascii: "{"), close: UInt8(ascii: "}"), fields)
    }

    /// `[...]` of `elements`, each written as a value.
    public mutating func array<Elements: Sequence>(_ elements: Elements) where Elements.Element: JSONWritable {
        nested(open: UInt8(ascii: "["), close: UInt8(ascii: "]")) { writer in
            for element in elements {
                if writer.needsComma { writer.bytes.append(UInt8(ascii: ",")) }
                writer.needsComma = true
                writer.asValue { element.write(to: &$0) }
            }
        }
    }

    /// `"name": value` inside an object; the value is whatever `value` writes.
    public mutating func field(_ name: String, _ value: (inout JSONWriter) -> Void) {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        needsComma = true
        string(name)
        bytes.append(UInt8(ascii: ":"))
        asValue(value)
    }

    public mutating func field(_ name: String, _ value: Int64) {
        field(name) { $0.bytes.append(contentsOf: String(value).utf8) }
    }

    /// `null` when nil (the contract writes absent ids as null, not by leaving the key out).
    public mutating func field(_ name: String, _ value: Int64?) {
        field(name) { writer in
            if let value { writer.bytes.append(contentsOf: String(value).utf8) } else { writer.null() }
        }
    }

    /// A finite number with at most three decimals (rates and milliseconds); `null` otherwise.
    public mutating func field(_ name: String, _ value: Double) {
        field(name) { writer in
            guard value.isFinite else { return writer.null() }
            let rounded = (value * 1000).rounded() / 1000
            writer.bytes.append(contentsOf: (rounded == rounded.rounded() ? String(Int64(rounded)) : String(rounded)).utf8)
        }
    }

    /// `null` when nil.
    public mutating func field(_ name: String, _ value: Double?) {
        if let value { field(name, value) } else { field(name) { $0.null() } }
    }

    public mutating func field(_ name: String, _ value: String) {
        field(name) { $0.string(value) }
    }

    public mutating func field(_ name: String, _ value: Bool) {
        field(name) { $0.bytes.append(contentsOf: (value ? "true" : "false").utf8) }
    }

    public mutating func field(_ name: String, _ value: some JSONWritable) {
        field(name) { value.write(to: &$0) }
    }

    /// `null` when nil.
    public mutating func field(_ name: String, _ value: (some JSONWritable)?) {
        field(name) { writer in
            if let value { value.write(to: &writer) } else { writer.null() }
        }
    }

    public mutating func field<Elements: Sequence>(_ name: String, _ elements: Elements) where Elements.Element: JSONWritable {
        field(name) { $0.array(elements) }
    }

    public mutating func null() {
        bytes.append(contentsOf: "null".utf8)
    }

    /// A JSON string: quotes, backslashes and control characters escaped; other UTF-8 as is.
    public mutating func string(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): bytes.append(contentsOf: #"\\"#.utf8)
            case UInt8(ascii: "\n"): bytes.append(contentsOf: #"\n"#.utf8)
            case UInt8(ascii: "\r"): bytes.append(contentsOf: #"\r"#.utf8)
            case UInt8(ascii: "\t"): bytes.append(contentsOf: #"\t"#.utf8)
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: #"\u00"#.utf8)
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 0xf)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func nested(open: UInt8, close: UInt8, _ body: (inout JSONWriter) -> Void) {
        bytes.append(open)
        asValue(body)
        bytes.append(close)
    }

    /// Runs `body` as the writer of one value: its own commas start afresh.
    private mutating func asValue(_ body: (inout JSONWriter) -> Void) {
        let outer = needsComma
        needsComma = false
        body(&self)
        needsComma = outer
    }
}
