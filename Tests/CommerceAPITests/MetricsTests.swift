import Foundation
import HTTPTypes
import Testing
@testable import CommerceAPI
@testable import CommerceCore
import CouponGate

/// `GET /metrics`: what the service counts, in the Prometheus text format.
@Suite struct MetricsTests {
    /// The value of the sample line that starts with `series` (name and labels), if any.
    static func sample(_ text: String, _ series: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last!) }
    }

    /// The series the alert rules' tests feed promtool (deploy/prometheus), as (name, labels)
    /// without the `job` and `instance` labels a scrape adds; `up` is Prometheus's own.
    static func alertTestSeries() throws -> [(name: String, labels: [String: String])] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("deploy/prometheus/commerce-alerts.test.yml"), encoding: .utf8)
        return text.matches(of: /series: '([a-z_]+)\{([^}]*)\}'/).compactMap { match in
            let name = String(match.output.1)
            guard name != "up" else { return nil }
            var labels = Self.labels(String(match.output.2))
            labels["job"] = nil
            labels["instance"] = nil
            return (name, labels)
        }
    }

    static func labels(_ text: String) -> [String: String] {
        Dictionary(text.matches(of: /([a-z_]+)="([^"]*)"/).map { (String($0.output.1), String($0.output.2)) }, uniquingKeysWith: { $1 })
    }

    @Test func requestsCouponsOrdersAndReconcileRunsAreCounted() async throws {
        let limits = IssueRateLimits(perUser: TokenBucket(perSecond: 0.1, burst: 2), perAddress: nil)
        try await withTestApp(issueLimits: limits) { app async throws in
            let item = try await app.createItem(price: 100, stock: 10)
            for _ in 0..<3 { #expect(try await app.client.call(.get, "/items/\(item)").status == .ok) }
            #expect(try await app.client.call(.get, "/items/999").status == .notFound)
            let coupon = try await app.createCoupon(stock: 10)
            let issue = #"{"user_id": 3, "coupon_id": \#(coupon)}"#
            #expect(try await app.client.call(.post, "/coupons/issue", issue).status == .created)
            #expect(try await app.client.call(.post, "/coupons/issue", issue).code == "COUPON_ALREADY_ISSUED")
            #expect(try await app.client.call(.post, "/coupons/issue", issue).code == "RATE_LIMITED")
            #expect(try await app.client.call(.post, "/coupons/issue", #"{"user_id": 4, "coupon_id": 999}"#).code == "COUPON_NOT_FOUND")
            try await app.charge(user: 3, 1_000)
            #expect(try await app.order(user: 3, [(item, 1)]).status == .created)
            #expect(try await app.order(user: 3, [(item, 100)]).code == "INSUFFICIENT_STOCK")
            #expect(try await app.client.call(.post, "/admin/reconcile").status == .ok)

            let reply = try await app.client.call(.get, "/metrics", token: nil)
            #expect(reply.status == .ok)
            #expect(reply.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
            let text = reply.text
            #expect(Self.sample(text, #"commerce_http_requests_total{route="/items/{item_id}",method="GET",status="200"}"#) == 3)

            // The alert rules are tested on series shaped as written here: each of their test's
            // series has one here with the same labels (status and coupon id aside: traffic).
            let written = text.matches(of: #/(?m)^([a-z_]+)\{([^}]*)\} /#).map { (String($0.output.1), Self.labels(String($0.output.2))) }
            let alertSeries = try Self.alertTestSeries()
            #expect(alertSeries.count >= 15)
            for (name, labels) in alertSeries {
                let shaped = written.contains { writtenName, writtenLabels in
                    writtenName == name && Set(writtenLabels.keys) == Set(labels.keys)
                        && labels.allSatisfy { ["status", "coupon_id"].contains($0.key) || writtenLabels[$0.key] == $0.value }
                }
                #expect(shaped, "the alert tests' \(name)\(labels) is not a series GET /metrics writes")
            }
            #expect(Self.sample(text, #"commerce_http_requests_total{route="/items/{item_id}",method="GET",status="404"}"#) == 1)
            #expect(Self.sample(text, #"commerce_http_request_duration_seconds_count{route="/items/{item_id}",method="GET",status="200"}"#) == 3)
            #expect(text.contains(#"commerce_http_request_duration_seconds_bucket{route="/items/{item_id}",method="GET",status="200",le="0.001"}"#))
            #expect(Self.sample(text, #"commerce_coupons_issued_total{coupon_id="\#(coupon)"}"#) == 1)
            #expect(Self.sample(text, #"commerce_coupons_rejected_total{coupon_id="\#(coupon)",reason="already_issued"}"#) == 1)
            #expect(Self.sample(text, #"commerce_coupons_rejected_total{coupon_id="\#(coupon)",reason="rate_limited"}"#) == 1)
            #expect(Self.sample(text, #"commerce_coupons_rejected_total{coupon_id="unknown",reason="not_found"}"#) == 1)
            #expect(Self.sample(text, #"commerce_orders_total{outcome="PAID"}"#) == 1)
            #expect(Self.sample(text, #"commerce_orders_total{outcome="INSUFFICIENT_STOCK"}"#) == 1)
            #expect(Self.sample(text, #"commerce_reconcile_runs_total{result="agreed"}"#) == 1)
            #expect(Self.sample(text, #"commerce_outbox_backlog{sink="stream"}"#) != nil)
            #expect(Self.sample(text, #"commerce_outbox_backlog{sink="ranking"}"#) != nil)
            // Every series is the service's own.
            let names = text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { $0.prefix { $0 != "{" && $0 != " " } }
            #expect(!names.isEmpty && names.allSatisfy { $0.hasPrefix("commerce_") })
        }
    }

    @Test func storeErrorsAreCounted() async throws {
        try await withTestApp { app async throws in
            let coupon = try await app.createCoupon(stock: 10)
            app.redisServer.stop()
            let reply = try await app.client.call(.post, "/coupons/issue", #"{"user_id": 3, "coupon_id": \#(coupon)}"#)
            #expect(reply.status == .serviceUnavailable)
            let text = try await app.client.call(.get, "/metrics", token: nil).text
            #expect((Self.sample(text, #"commerce_dependency_errors_total{dependency="redis"}"#) ?? 0) >= 1)
            #expect(Self.sample(text, #"commerce_coupons_rejected_total{coupon_id="\#(coupon)",reason="unavailable"}"#) == 1)
        }
    }
}
