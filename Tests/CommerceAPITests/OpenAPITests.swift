import Foundation
import Testing
@testable import CommerceAPI
@testable import CommerceCore

/// `openapi.yaml` and the router describe the same routes, and the server serves the document.
@Suite struct OpenAPITests {
    /// `METHOD /path` for every operation under `paths:` (two-space path keys, four-space methods).
    static func documentedRoutes(_ yaml: String) -> Set<String> {
        var routes = Set<String>()
        var inPaths = false
        var path: String?
        let methods: Set<String> = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]
        for line in yaml.split(separator: "\n", omittingEmptySubsequences: false) {
            if !line.hasPrefix(" ") && !line.isEmpty { inPaths = line == "paths:"; continue }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), line.hasSuffix(":"), !line.hasPrefix("   ") {
                path = String(line.dropFirst(2).dropLast())
            } else if line.hasPrefix("    "), !line.hasPrefix("     "), line.hasSuffix(":"),
                      let path, case let method = String(line.dropFirst(4).dropLast()), methods.contains(method) {
                routes.insert("\(method.uppercased()) \(path)")
            }
        }
        return routes
    }

    @Test func theDocumentAndTheRouterListTheSameRoutes() async throws {
        try await withTestApp { app async throws in
            let reply = try await app.client.call(.get, "/openapi.yaml", token: nil)
            #expect(reply.status == .ok)
            #expect(reply.headers[.contentType] == "application/yaml")
            #expect(reply.text.hasPrefix("openapi: 3.1.0\n"))
            let documented = Self.documentedRoutes(reply.text)
            let routed = Set(app.routes)
            #expect(routed.count >= 20)
            #expect(routed.subtracting(documented).isEmpty, "routes missing from openapi.yaml: \(routed.subtracting(documented).sorted())")
            #expect(documented.subtracting(routed).isEmpty, "documented routes the router lacks: \(documented.subtracting(routed).sorted())")
        }
    }

    @Test func theParserFindsAMissingOrExtraRoute() {
        let yaml = """
            openapi: 3.1.0
            paths:
              /a:
                get:
                  responses: {}
                post:
                  parameters: []
              /b/{id}:
                delete:
                  responses: {}
            components:
              schemas:
                get:
                  type: string
            """
        #expect(Self.documentedRoutes(yaml) == ["GET /a", "POST /a", "DELETE /b/{id}"])
    }
}
