import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import TestSupport
@testable import CommerceAPI
@testable import CommerceCore
import CommerceStore
import RedisClient

@Suite(.alsoOn(.postgres)) struct HealthTests {
    @Test func liveIsAlways200() async throws {
        try await withTestApp { app async throws in
            app.redisServer.stop()
            try await app.client.execute(uri: "/health/live", method: .get) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test func readyNamesRedisWhenItIsDownAndRecoversWhenItIsBack() async throws {
        try await withTestApp { app async throws in
            let client = app.client, server = app.redisServer
            try await client.execute(uri: "/health/ready", method: .get) { response in
                #expect(response.status == .ok)
            }
            server.stop()
            try await client.execute(uri: "/health/ready", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.contentType] == "application/problem+json")
                let body = try json(response.body)
                #expect(body["code"] as? String == "SERVICE_UNAVAILABLE")
                #expect((body["detail"] as? String)?.contains("redis") == true)
                let checks = body["checks"] as? [String: String]
                #expect(checks?[app.database.name] == "ok")
                #expect(checks?["redis"]?.hasPrefix("unreachable") == true)
            }
            try await server.restart()
            var status: HTTPResponse.Status = .serviceUnavailable
            for _ in 0..<50 where status != .ok {
                status = try await client.execute(uri: "/health/ready", method: .get) { $0.status }
                if status != .ok { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(status == .ok)
        }
    }
}

@Suite struct ProblemTests {
    struct Charge: Decodable { let user_id: Int64; let amount: Int64 }

    /// A body-reading route, to exercise decoding errors and the body limit through the real stack.
    static func echoRoute(_ router: Router<CommerceRequestContext>) {
        router.post("/test/echo") { request, context in
            let charge = try await JSONBody.decode(Charge.self, from: request, context: context)
            return ["amount": charge.amount]
        }
    }

    @Test func unknownRouteIsProblemJSON404() async throws {
        try await withTestApp { app async throws in
            let client = app.client
            try await client.execute(uri: "/nope", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.contentType] == "application/problem+json")
                let body = try json(response.body)
                #expect(body["status"] as? Int == 404)
                #expect(body["code"] as? String == "NOT_FOUND")
                #expect(body["title"] as? String == "Not Found")
            }
        }
    }

    @Test func malformedBodiesAre400NamingTheField() async throws {
        try await withTestApp(extraRoutes: Self.echoRoute) { app async throws in
            let client = app.client
            let cases: [(String, String)] = [
                (#"{"user_id": 1, "amount": "ten"}"#, "`amount`"),
                (#"{"user_id": 1}"#, "`amount`"),
                (#"{"user_id": 1, "amount": null}"#, "`amount`"),
                ("{not json", "not valid JSON"),
            ]
            for (body, mention) in cases {
                try await client.execute(uri: "/test/echo", method: .post, body: ByteBuffer(string: body)) { response in
                    #expect(response.status == .badRequest, "\(body)")
                    let problem = try json(response.body)
                    #expect(problem["code"] as? String == "INVALID_REQUEST")
                    #expect((problem["detail"] as? String)?.contains(mention) == true, "\(problem)")
                }
            }
            try await client.execute(uri: "/test/echo", method: .post, body: ByteBuffer(string: #"{"user_id": 1, "amount": 5}"#)) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test func bodiesOver64KiBAre413() async throws {
        try await withTestApp(extraRoutes: Self.echoRoute) { app async throws in
            let client = app.client
            let padding = String(repeating: " ", count: 64 * 1024)
            try await client.execute(uri: "/test/echo", method: .post, body: ByteBuffer(string: #"{"user_id": 1, "amount": 5}"# + padding)) { response in
                #expect(response.status == .contentTooLarge)
                let problem = try json(response.body)
                #expect(problem["code"] as? String == "PAYLOAD_TOO_LARGE")
            }
        }
    }
}
