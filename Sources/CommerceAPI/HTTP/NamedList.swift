import CommerceCore
import CommerceStore
import FlatJSON

/// `{"<name>": [...]}`: the body of the list routes (`{"entries": [...]}`, `{"orders": [...]}`).
struct NamedList<Element: JSONWritable & Sendable>: JSONWritable, Sendable {
    let name: String
    let elements: [Element]

    func write(to json: inout JSONWriter) {
        json.object { $0.field(name, elements) }
    }
}
