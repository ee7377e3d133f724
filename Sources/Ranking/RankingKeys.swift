/// Redis keys of the sales ranking. The `{sales}` hash tag keeps every day set in one Redis
/// Cluster slot, which `ZUNIONSTORE` over several days requires.
public enum RankingKeys {
    /// Sorted set item id → units sold on `day`.
    public static func unitsSold(on day: SalesDay) -> String {
        "rank:{sales}:\(day.compact)"
    }

    /// The cached union of the window ending on `day`.
    public static func window(endingOn day: SalesDay) -> String {
        "rank:{sales}:top3:\(day.compact)"
    }
}
