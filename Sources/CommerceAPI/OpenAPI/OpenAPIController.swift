import Hummingbird

/// `GET /openapi.yaml`: the service's OpenAPI 3.1 description (`openapi.yaml` beside this file,
/// compiled in), no token needed. A test keeps it and the router in step.
struct OpenAPIController {
    static let document = ByteBuffer(bytes: PackageResources.openapi_yaml)

    func addRoutes(to router: some RouterMethods<CommerceRequestContext>) {
        router.get("/openapi.yaml") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: Self.document))
        }
    }
}
