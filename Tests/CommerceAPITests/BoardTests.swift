import Foundation
import HTTPTypes
import Testing
@testable import CommerceAPI
@testable import CommerceCore

/// The live event board: its page, and the snapshot it polls.
@Suite struct BoardTests {
    @Test func thePageLoadsWithoutATokenAndNeedsNothingFromElsewhere() async throws {
        try await withTestApp { app async throws in
            let page = try await app.client.call(.get, "/admin/board", token: nil)
            #expect(page.status == .ok)
            #expect(page.headers[.contentType] == "text/html; charset=utf-8")
            #expect(page.text.contains("<title>Coupon event board</title>"))
            #expect(page.text.contains(#"<meta name="viewport" content="width=device-width, initial-scale=1">"#))
            #expect(page.text.contains("/admin/board/snapshot"))
            // No external assets: no src/href attributes, no CSS imports or url(...).
            for reference in ["src=", "href=", "@import", "url("] {
                #expect(!page.text.contains(reference), "the page references \(reference)")
            }
        }
    }

    @Test func theSnapshotShowsActiveCouponsLiveCountsAndRatesAndNeedsAnAdmin() async throws {
        try await withTestApp { app async throws in
            let coupon = try await app.createCoupon(stock: 5)
            let later = try await app.createCoupon(stock: 5, from: "2090-01-01T00:00:00Z", until: "2099-01-01T00:00:00Z")
            for user in Int64(1)...8 { _ = try await app.issue(user: user, coupon: coupon) }
            _ = try await app.issue(user: 1, coupon: coupon)
            _ = try await app.issue(user: 1, coupon: later)

            #expect(try await app.client.call(.get, "/admin/board/snapshot", token: nil).status == .unauthorized)
            #expect(try await app.client.call(.get, "/admin/board/snapshot", token: TestTokens.token(user: 1)).status == .forbidden)
            let snapshot = try await app.client.call(.get, "/admin/board/snapshot")
            #expect(snapshot.status == .ok)
            let coupons = try #require(snapshot.json["coupons"] as? [[String: Any]])
            // The one not yet valid is not on the board.
            #expect(coupons.map { $0["coupon_id"] as? Int64 } == [coupon])
            let line = try #require(coupons.first)
            let admin = try await app.client.call(.get, "/admin/coupons/\(coupon)")
            #expect(line["remaining"] as? Int64 == 0)
            #expect(line["remaining"] as? Int64 == admin.json["remaining"] as? Int64)
            #expect(line["issued"] as? Int64 == 5)
            #expect(line["issued"] as? Int64 == admin.json["issued"] as? Int64)
            let totals = try #require(line["issue_requests"] as? [String: Int64])
            #expect(totals == admin.json["issue_requests"] as? [String: Int64])
            #expect(totals["issued"] == 5 && totals["sold_out"] == 3 && totals["already_issued"] == 1)
            // All of it happened within the window: rates are the totals over the window so far.
            let perSecond = try #require(line["per_second"] as? [String: Double])
            let window = try #require(snapshot.json["window_seconds"] as? Double)
            #expect(window > 0 && window <= 5)
            #expect(abs(try #require(perSecond["issued"]) - 5 / window) < 0.5 / window)
            #expect(abs(try #require(perSecond["sold_out"]) - 3 / window) < 0.5 / window)
            #expect(perSecond["unavailable"] == 0)
            let latency = try #require(snapshot.json["issue_latency_ms"] as? [String: Double])
            let (p50, p99) = (try #require(latency["p50"]), try #require(latency["p99"]))
            #expect(p50 > 0 && p50 <= p99 && p99 < 5_000)

            // A window later, with no requests since, the rates are back to 0 and the totals stay.
            try await Task.sleep(for: IssueActivity.window + .seconds(1.5))
            let quiet = try await app.client.call(.get, "/admin/board/snapshot")
            let quietLine = try #require((quiet.json["coupons"] as? [[String: Any]])?.first)
            #expect((quietLine["per_second"] as? [String: Double])?.values.allSatisfy { $0 == 0 } == true)
            #expect((quietLine["issue_requests"] as? [String: Int64])?["issued"] == 5)
            #expect((quiet.json["issue_latency_ms"] as? [String: Any])?["p50"] is NSNull)
        }
    }

    @Test func latencyQuantilesComeFromTheRightBuckets() {
        let histogram = LatencyHistogram()
        let before = histogram.snapshot()
        for _ in 0..<98 { histogram.record(.milliseconds(2)) }
        histogram.record(.milliseconds(40))
        histogram.record(.milliseconds(40))
        let after = histogram.snapshot()
        // Within a bucket's width (20%) of the true values.
        let p50 = try! #require(LatencyHistogram.quantile(0.5, from: before, to: after))
        let p99 = try! #require(LatencyHistogram.quantile(0.99, from: before, to: after))
        #expect(abs(p50 - 0.002) / 0.002 < 0.2)
        #expect(abs(p99 - 0.040) / 0.040 < 0.2)
        #expect(LatencyHistogram.quantile(0.5, from: after, to: after) == nil)
    }
}
