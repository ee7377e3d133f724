import BearerTokens
import Foundation
import Hummingbird

/// How requests prove who they are.
public enum AuthenticationMode: Sendable {
    /// Bearer tokens signed with the server's secret or an identity provider's keys (the only
    /// mode for anything real).
    case tokens(AccessTokens)
    /// No tokens at all: every request acts as an admin. For a developer's own machine only;
    /// `commerce serve` needs `--insecure-dev` to run like this and says so in its log.
    case insecureDev
}

/// Checks the bearer token of every route behind it and puts its ``Identity`` in the context;
/// 401 `UNAUTHENTICATED` when the token is missing, malformed, wrongly signed or expired.
struct Authentication: RouterMiddleware {
    typealias Context = CommerceRequestContext
    let mode: AuthenticationMode

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.identity = try identify(request)
        return try await next(request, context)
    }

    private func identify(_ request: Request) throws -> Identity {
        guard case .tokens(let tokens) = mode else { return Identity(userID: 0, isAdmin: true) }
        guard let header = request.headers[.authorization] else {
            throw Self.unauthenticated("send `Authorization: Bearer <token>`")
        }
        // Byte by byte (every request passes here): `String.count` and `lowercased()` walk
        // grapheme clusters and allocate.
        let utf8 = header.utf8
        var start = utf8.startIndex
        for expected in "bearer ".utf8 {
            guard start != utf8.endIndex, Self.lowercased(utf8[start]) == expected else {
                throw Self.unauthenticated("the Authorization header must be `Bearer <token>`")
            }
            start = utf8.index(after: start)
        }
        while start != utf8.endIndex, utf8[start] == UInt8(ascii: " ") { start = utf8.index(after: start) }
        guard start != utf8.endIndex else { throw Self.unauthenticated("the Authorization header must be `Bearer <token>`") }
        // Token lifetimes are wall-clock time, whatever clock the business logic runs on.
        let now = Int64(Date().timeIntervalSince1970)
        do {
            return try tokens.verify(header[start...], now: now)
        } catch {
            throw Self.unauthenticated(error.reason)
        }
    }

    private static func lowercased(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte
    }

    private static func unauthenticated(_ detail: String) -> Problem {
        var problem = Problem(.unauthorized, code: "UNAUTHENTICATED", detail: detail)
        problem.headers[.wwwAuthenticate] = "Bearer"
        return problem
    }
}

/// 403 `FORBIDDEN` for every route behind it unless the token is an admin's.
struct RequireAdmin: RouterMiddleware {
    typealias Context = CommerceRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard context.identity?.isAdmin == true else {
            throw Problem(.forbidden, code: "FORBIDDEN", detail: "\(request.uri.path) needs an admin token")
        }
        return try await next(request, context)
    }
}
