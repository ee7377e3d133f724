import Foundation
import HummingbirdTesting
import TestSupport

/// The real `commerce serve` as a child process on a free port, for tests that kill it.
struct CommerceServer: Sendable {
    let process: ChildProcess
    let port: Int

    /// Starts the built `commerce` binary on `databasePath` and `redisURL` and waits until
    /// `/health/live` answers.
    /// `secret` nil starts it without one (then `arguments` must say `--insecure-dev`).
    /// `launcher` runs it, e.g. `["/usr/bin/prlimit", "--nofile=1024:1024", "--"]` (which execs
    /// it, so the PID is the server's).
    static func start(databasePath: String, redisURL: String, logFile: URL, secret: String? = TestTokens.secret,
                      arguments: [String] = [], launcher: [String] = []) async throws -> CommerceServer {
        let port = try freePort()
        let process = try ChildProcess.spawn(
            launcher + [try builtExecutable("commerce"), "serve", "--port", "\(port)", "--db", databasePath, "--redis", redisURL,
             "--log-level", "warning", "--jwt-secret", secret ?? "",
             // Bursts in these tests come from one address and few users on purpose.
             "--issue-limit-user", "off", "--issue-limit-address", "off"] + arguments,
            logFile: logFile)
        let server = CommerceServer(process: process, port: port)
        for _ in 0..<200 {
            if let reply = try? await server.once({ try await $0.call(.get, "/health/live") }), reply.status == .ok {
                return server
            }
            if await process.waitForExit(timeout: .milliseconds(50)) != nil {
                throw TestSupportError("commerce serve exited at start:\n\(process.output)")
            }
        }
        await process.stop()
        throw TestSupportError("commerce serve did not answer within 10 s:\n\(process.output)")
    }

    /// Runs `body` with a started server and stops it afterwards (SIGTERM), whatever happens.
    static func with<T>(databasePath: String, redisURL: String, logFile: URL, secret: String? = TestTokens.secret,
                        arguments: [String] = [], launcher: [String] = [],
                        _ body: (CommerceServer) async throws -> T) async throws -> T {
        let server = try await start(databasePath: databasePath, redisURL: redisURL, logFile: logFile, secret: secret,
                                     arguments: arguments, launcher: launcher)
        do {
            let result = try await body(server)
            await server.process.stop()
            return result
        } catch {
            await server.process.stop()
            throw error
        }
    }

    /// A new connection to the server.
    func connection() -> TestClient {
        let client = TestClient(host: "127.0.0.1", port: port, configuration: .init(timeout: .seconds(10)))
        client.connect()
        return client
    }

    /// Runs `body` on a fresh connection and closes it.
    func once<T>(_ body: (TestClient) async throws -> T) async throws -> T {
        let client = connection()
        do {
            let result = try await body(client)
            try? await client.close()
            return result
        } catch {
            try? await client.close()
            throw error
        }
    }
}
