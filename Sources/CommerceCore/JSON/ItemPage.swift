import CommerceStore
import FlatJSON

/// One page of `GET /items`: `{"items", "next_cursor"}`; `next_cursor` is null on the last page.
public struct ItemPage: JSONWritable, Sendable {
    var items: [Item]
    var nextCursor: String?

    /// The page after `afterID` from `rows`, read with one row more than `limit`: the extra row
    /// tells whether another page follows, without a COUNT.
    init(rows: [Item], limit: Int) {
        items = Array(rows.prefix(limit))
        nextCursor = rows.count > limit ? items.last.map { String($0.itemID) } : nil
    }

    public func write(to json: inout JSONWriter) {
        json.object {
            $0.field("items", items)
            $0.field("next_cursor") { writer in
                if let nextCursor { writer.string(nextCursor) } else { writer.null() }
            }
        }
    }
}
