import ArgumentParser
import BearerTokens
import CommerceAPI
import Foundation

struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print an HS256 bearer token signed with the configured secret.",
        discussion: """
            Use it as `Authorization: Bearer <token>`. A user's token may act for that user only; \
            an admin token (--admin) may act for anyone and use /admin/*.
            """
    )

    @Option(help: "The user the token is for (a positive id).")
    var user: Int64

    @Flag(help: "An admin token.")
    var admin = false

    @Option(help: "Seconds until the token expires.")
    var ttl: Int64 = 3600

    @OptionGroup var tokens: TokenOptions

    func validate() throws {
        guard user > 0 else { throw ValidationError("--user must be a positive id") }
        guard (1...10 * 365 * 86_400).contains(ttl) else { throw ValidationError("--ttl must be 1 second to 10 years") }
    }

    func run() async throws {
        guard let tokens = try await tokens.resolvedTokens() else {
            throw ValidationError("no JWT secret: set COMMERCE_JWT_SECRET or --jwt-secret (the server's secret)")
        }
        let expiresAt = Int64(Date().timeIntervalSince1970) + ttl
        print(try await tokens.sign(Identity(userID: user, isAdmin: admin), expiresAt: expiresAt))
    }
}
