import CommerceCore
import Hummingbird
import Logging
import RedisClient
import CommerceStore
import CouponGate

/// Turns every error a route (or Hummingbird itself: unknown route, body too large) throws into a
/// problem+json response, so no client ever sees another error shape. Domain errors are mapped
/// to statuses here and nowhere else.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: CommerceMetrics
    /// The store driver's name (`sqlite`, ...), for the log and the dependency-error metric.
    let storeName: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let problem = problem(for: error, request: request, logger: context.logger)
            return try problem.response(from: request, context: context)
        }
    }

    func problem(for error: any Error, request: Request, logger: Logger) -> Problem {
        switch error {
        case let problem as Problem:
            return problem
        case let error as CommerceError:
            return Problem(error)
        case let error as HTTPError:
            return Self.problem(forStatus: error.status, message: error.body, request: request)
        case let error as any HTTPResponseError:
            return Self.problem(forStatus: error.status, message: nil, request: request)
        case let limited as RateLimited:
            var problem = Problem(.tooManyRequests, code: "RATE_LIMITED", detail: "too many coupon requests; try again shortly")
            problem.retryAfter(limited.retryAfter)
            return problem
        case let fenced as IssueFenced:
            var problem = Problem.serviceUnavailable(fenced.description)
            problem.retryAfter(fenced.retryAfter)
            return problem
        case let error as RedisError where error.isUnavailable:
            logger.warning("redis unavailable", metadata: ["error": "\(error)"])
            metrics.dependencyError("redis")
            return .serviceUnavailable("Redis is unreachable; nothing was changed, try again shortly")
        case let error as StoreError where error.code == .unavailable:
            metrics.dependencyError(storeName)
            logger.error("\(storeName) unavailable", metadata: ["error": "\(error)"])
            return .serviceUnavailable("the database cannot take requests right now; nothing was changed, try again shortly")
        case let error as IssueUnavailable:
            return .serviceUnavailable(error.message)
        case let error as ReconcileRunning:
            return Problem(.conflict, code: "RECONCILE_RUNNING", detail: error.description)
        case let error as StoreError where error.code == .closed:
            return .serviceUnavailable("the service is shutting down; nothing was changed")
        case let error as DecodingError:
            return .invalidRequest(JSONBody.describe(error))
        default:
            logger.error("unhandled error", metadata: ["error": "\(String(reflecting: error))"])
            return Problem(.internalServerError, code: "INTERNAL_ERROR", detail: "an unexpected error occurred")
        }
    }

    private static func problem(forStatus status: HTTPResponse.Status, message: String?, request: Request) -> Problem {
        switch status {
        case .notFound:
            return Problem(.notFound, code: "NOT_FOUND", detail: "no route for \(request.method) \(request.uri.path)")
        case .methodNotAllowed:
            return Problem(.methodNotAllowed, code: "METHOD_NOT_ALLOWED", detail: "\(request.method) is not allowed on \(request.uri.path)")
        case .contentTooLarge:
            return Problem(.contentTooLarge, code: "PAYLOAD_TOO_LARGE", detail: "the request body is over \(CommerceRequestContext.bodyLimit) bytes")
        case .badRequest:
            return .invalidRequest(message ?? "the request is malformed")
        case .unsupportedMediaType:
            return Problem(.unsupportedMediaType, code: "UNSUPPORTED_MEDIA_TYPE", detail: message ?? "send application/json")
        default:
            return Problem(status, code: status.code >= 500 ? "INTERNAL_ERROR" : "HTTP_\(status.code)", detail: message ?? status.reasonPhrase)
        }
    }
}
