import CommerceStore
import FlatJSON

extension Timestamp: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.string(description)
    }
}
