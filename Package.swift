// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "commerce",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "commerce", targets: ["commerce"]),
        .library(name: "CommerceAPI", targets: ["CommerceAPI"]),
        .library(name: "RedisClient", targets: ["RedisClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        // NIOHTTPTypes: the request parts the connection deadlines watch; Hummingbird's own dependency.
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        // Bearer tokens: parsing, HS256 / RS256 / ES256 signatures, JSON Web Key Sets.
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        // The tests sign tokens with their own keys (HMAC, P-256, RSA); jwt-kit's dependency.
        .package(url: "https://github.com/apple/swift-crypto.git", "4.1.0"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // hiredis from Debian's libhiredis-dev. No `pkgConfig:` on purpose: hiredis.pc adds
        // -D_FILE_OFFSET_BITS=64, which SwiftPM rejects; the modulemap links the library itself.
        .systemLibrary(
            name: "CHiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        // What a service's run() is made of: the queue its loop drains, the retry loop.
        .target(
            name: "ServiceTasks",
            dependencies: [
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "RedisClient",
            dependencies: [
                "CHiredis", "ServiceTasks",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The store's protocols, models and errors: what callers see of the database. No driver.
        .target(
            name: "CommerceStore",
            dependencies: [.product(name: "ServiceLifecycle", package: "swift-service-lifecycle")]
        ),
        // The embedded driver: SQLite through GRDB, with group commit. The only module that sees GRDB.
        .target(
            name: "CommerceStoreSQLite",
            dependencies: [
                "CommerceStore", "ServiceTasks",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The shared driver: PostgreSQL through postgres-nio's pooled client. The only module that sees it.
        .target(
            name: "CommerceStorePostgres",
            dependencies: [
                "CommerceStore", "ServiceTasks",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // scripts/lua compiled in as RedisScript constants (see Plugins/EmbedLuaScripts).
        .executableTarget(name: "EmbedLua"),
        .plugin(name: "EmbedLuaScripts", capability: .buildTool(), dependencies: ["EmbedLua"]),
        .target(name: "LuaScripts", dependencies: ["RedisClient"], plugins: ["EmbedLuaScripts"]),
        .target(
            name: "CouponGate",
            dependencies: [
                "RedisClient", "LuaScripts", "CommerceStore", "ServiceTasks",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(name: "Ranking", dependencies: ["RedisClient", "LuaScripts", "CommerceStore"]),
        // Flat JSON objects read straight from bytes (the burst's bodies, tokens' parts).
        .target(name: "FlatJSON"),
        // Who a request acts for: bearer tokens verified by jwt-kit. The only module that sees it.
        .target(
            name: "BearerTokens",
            dependencies: [
                "ServiceTasks", "FlatJSON",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The service below HTTP: the parts built once (coupon gate, ranking, item cache,
        // reconcile and repair, outbox relays, metrics) and the contract's JSON of the models.
        .target(
            name: "CommerceCore",
            dependencies: [
                "RedisClient", "CommerceStore", "CouponGate", "Ranking", "LuaScripts", "ServiceTasks", "FlatJSON",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // HTTP only: routes, JSON bodies and problems, middleware, authentication.
        .target(
            name: "CommerceAPI",
            dependencies: [
                "CommerceCore", "RedisClient", "CommerceStore", "CouponGate", "Ranking", "LuaScripts", "ServiceTasks", "BearerTokens", "FlatJSON",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            resources: [.embedInCode("OpenAPI/openapi.yaml"), .embedInCode("Board/board.html")]
        ),
        .executableTarget(
            name: "commerce",
            dependencies: [
                "CommerceAPI", "CommerceCore", "CommerceStore", "CommerceStoreSQLite", "CommerceStorePostgres", "CouponGate", "RedisClient",
                "BearerTokens", "FlatJSON",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "RedisBench",
            dependencies: [
                "RedisClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/RedisBench"
        ),
        // Starts and stops real redis-server processes for the tests (by PID, on free ports).
        .target(
            name: "TestSupport",
            dependencies: ["RedisClient", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio")],
            path: "Tests/TestSupport"
        ),
        .testTarget(
            name: "RedisClientTests",
            dependencies: ["RedisClient", "TestSupport", .product(name: "NIOCore", package: "swift-nio")]
        ),
        // The store's behaviour, written once and run for every driver.
        .testTarget(
            name: "CommerceStoreTests",
            dependencies: ["CommerceStore", "CommerceStoreSQLite", "CommerceStorePostgres", "TestSupport",
                           .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(
            name: "CommerceStoreSQLiteTests",
            dependencies: ["CommerceStore", "CommerceStoreSQLite", "TestSupport", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .testTarget(name: "CouponGateTests", dependencies: ["CouponGate", "CommerceStore", "LuaScripts", "RedisClient", "TestSupport"]),
        .testTarget(name: "RankingTests", dependencies: ["Ranking"]),
        .testTarget(name: "FlatJSONTests", dependencies: ["FlatJSON"]),
        .testTarget(
            name: "ServiceTasksTests",
            dependencies: ["ServiceTasks", .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle")]
        ),
        .testTarget(
            name: "CommerceAPITests",
            dependencies: [
                "CommerceAPI", "CommerceCore", "CommerceStore", "CommerceStoreSQLite", "CommerceStorePostgres", "CouponGate", "Ranking", "LuaScripts",
                "TestSupport", "BearerTokens", "FlatJSON",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
