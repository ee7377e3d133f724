import Hummingbird
import Logging
import NIOCore

/// One log line per request: method, path, status and duration. Errors have already become
/// responses (ProblemMiddleware sits inside this one), so the status logged is the one sent.
struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = NIODeadline.now()
        let response = try await next(request, context)
        let elapsed = Double((NIODeadline.now() - start).nanoseconds) / 1_000_000
        // A 503 is a dependency being down (already logged where it was noticed), not a bug.
        let level: Logger.Level = switch response.status.code {
        case 503: .warning
        case 500...: .error
        default: .info
        }
        context.logger.log(level: level, "\(request.method) \(request.uri.path) \(response.status.code)", metadata: [
            "ms": "\((elapsed * 100).rounded() / 100)",
        ])
        return response
    }
}
