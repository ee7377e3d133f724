import CommerceCore
import CommerceStore
import CouponGate
import FlatJSON
import Foundation
import Hummingbird

/// The live event board: `GET /admin/board`, one HTML page (`board.html` beside this file,
/// compiled in; no token needed to load it), and `GET /admin/board/snapshot`, the JSON it polls
/// with the admin token typed into it.
struct BoardController {
    static let page = ByteBuffer(bytes: PackageResources.board_html)
    /// Active coupons shown at most (the oldest first): a board, not a report.
    static let maxCoupons = 50

    let coupons: any CouponStore
    let registry: CouponRegistry
    let activity: IssueActivity
    let now: @Sendable () -> Int64

    /// The page, on a router without authentication.
    func addPage(to router: some RouterMethods<CommerceRequestContext>) {
        router.get("/admin/board") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                     body: .init(byteBuffer: Self.page))
        }
    }

    /// The snapshot, on the admin routes.
    func addSnapshot(to router: some RouterMethods<CommerceRequestContext>) {
        router.get("/admin/board/snapshot") { _, _ in
            JSONResponse.response(status: .ok, try await snapshot())
        }
    }

    func snapshot() async throws -> BoardSnapshot {
        let at = now()
        let reading = activity.reading()
        var shown: [BoardSnapshot.CouponLine] = []
        for coupon in try await coupons.active(at: at, limit: Self.maxCoupons) {
            // Redis down: the line still shows its rates, with the live counts unknown.
            let live = try? await registry.liveCounts(couponID: coupon.couponID)
            shown.append(BoardSnapshot.CouponLine(
                coupon: coupon, remaining: live?.remaining, issued: live?.issued,
                perSecond: reading.perSecond[coupon.couponID] ?? [:], totals: reading.totals[coupon.couponID] ?? [:]))
        }
        return BoardSnapshot(at: Timestamp(milliseconds: at), windowSeconds: reading.seconds, coupons: shown,
                             p50: reading.p50, p99: reading.p99)
    }
}

/// `{"at", "window_seconds", "issue_latency_ms": {"p50", "p99"}, "coupons": [...]}`: each active
/// coupon's terms, Redis's live `remaining` and `issued` (null when Redis cannot be asked), and
/// this process's issue requests per second over the window and in total, by outcome.
struct BoardSnapshot: JSONWritable, Sendable {
    var at: Timestamp
    var windowSeconds: Double
    var coupons: [CouponLine]
    var p50: Double?
    var p99: Double?

    struct CouponLine: JSONWritable, Sendable {
        var coupon: Coupon
        var remaining: Int64?
        var issued: Int64?
        var perSecond: [IssueCounters.Outcome: Double]
        var totals: [IssueCounters.Outcome: Int64]

        func write(to json: inout JSONWriter) {
            json.object {
                coupon.writeFields(to: &$0)
                $0.field("remaining", remaining)
                $0.field("issued", issued)
                $0.field("per_second") { json in
                    json.object { for outcome in IssueCounters.Outcome.allCases { $0.field(outcome.rawValue, perSecond[outcome] ?? 0) } }
                }
                $0.field("issue_requests") { json in
                    json.object { for outcome in IssueCounters.Outcome.allCases { $0.field(outcome.rawValue, totals[outcome] ?? 0) } }
                }
            }
        }
    }

    func write(to json: inout JSONWriter) {
        json.object {
            $0.field("at", at)
            $0.field("window_seconds", windowSeconds)
            $0.field("issue_latency_ms") { json in
                json.object {
                    $0.field("p50", p50.map { $0 * 1000 })
                    $0.field("p99", p99.map { $0 * 1000 })
                }
            }
            $0.field("coupons", coupons)
        }
    }
}
