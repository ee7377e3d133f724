/// Redis keys of the sales ranking. The `{sales}` hash tag keeps every day set in one Redis
/// Cluster slot, which `ZUNIONSTORE` over several days requires.
public enum RankingKeys {
    /// Sorted set item id (see ``member(_:)``) → units sold on `day`.
    public static func unitsSold(on day: SalesDay) -> String {
        "rank:{sales}:\(day.compact)"
    }

    /// The highest order id counted in `day`'s set (see `scripts/lua/rank-record.lua`).
    public static func applied(on day: SalesDay) -> String {
        "rank:{sales}:\(day.compact):applied"
    }

    /// The cached union of the window ending on `day`.
    public static func window(endingOn day: SalesDay) -> String {
        "rank:{sales}:top3:\(day.compact)"
    }

    /// The cached windows whose union contains `day`: dropped whenever the day changes.
    static func windows(containing day: SalesDay) -> [String] {
        (0..<SalesWindow.days).map { window(endingOn: day.adding(days: $0)) }
    }

    /// An item id as a sorted-set member: zero-padded to 19 digits, so that Redis's order of
    /// members with equal scores (bytewise) is the order of the ids as numbers ("9" < "10").
    public static func member(_ itemID: Int64) -> String {
        let digits = String(itemID)
        return String(repeating: "0", count: max(0, 19 - digits.count)) + digits
    }

    /// The item id of a member written by ``member(_:)``.
    public static func itemID(_ member: String) -> Int64? {
        Int64(member)
    }
}
