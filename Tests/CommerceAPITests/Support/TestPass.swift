import Foundation
import Testing
import TestSupport

/// The passes `scripts/test` runs this target in, one per backend: SQLite with one Redis (the
/// default pass, where every suite runs), then PostgreSQL, a Redis Cluster, and both. A suite
/// says which of the others it runs in with ``Testing/Trait/alsoOn(_:)`` — the one place the
/// test matrix is written; `scripts/test` runs the whole target in each pass.
enum TestPass: Sendable, Equatable {
    case postgres, cluster, clusterPostgres

    /// The pass under way; nil for the default one.
    static let current: TestPass? = switch (TestDatabase.isPostgres, testsUseRedisCluster) {
    case (false, false): nil
    case (true, false): .postgres
    case (false, true): .cluster
    case (true, true): .clusterPostgres
    }
}

extension Trait where Self == ConditionTrait {
    /// Runs in the default pass and in `passes`; skipped in the others.
    static func alsoOn(_ passes: TestPass...) -> Self {
        .enabled(if: TestPass.current.map(passes.contains) ?? true, "not a pass this suite runs in")
    }
}
