import CommerceCore
import Hummingbird
import Logging
import NIOCore

/// One log line and the request metrics per request: method, route, status and duration.
/// Errors have already become responses (ProblemMiddleware sits inside this one), so the status
/// logged and counted is the one sent.
struct RequestObserver<Context: RequestContext>: RouterMiddleware {
    let metrics: CommerceMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            record(request, context, status: Int(response.status.code), start: start)
            return response
        } catch {
            // Only what ProblemMiddleware let through (nothing, so far); Hummingbird answers 500.
            record(request, context, status: 500, start: start)
            throw error
        }
    }

    private func record(_ request: Request, _ context: Context, status: Int, start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        // Unmatched paths share one series: anyone can invent new ones.
        metrics.request(route: context.endpointPath ?? "unmatched", method: request.method.rawValue, status: status, duration: elapsed)
        // A 503 is a dependency being down (already logged where it was noticed), not a bug.
        let level: Logger.Level = switch status {
        case 503: .warning
        case 500...: .error
        default: .info
        }
        let ms = Double(elapsed.components.attoseconds / 10_000_000_000_000) / 100 + Double(elapsed.components.seconds) * 1000
        context.logger.log(level: level, "\(request.method) \(request.uri.path) \(status)", metadata: ["ms": "\(ms)"])
    }
}
