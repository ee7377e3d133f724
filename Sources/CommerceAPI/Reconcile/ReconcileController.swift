import CommerceCore
import Hummingbird

/// `POST /admin/reconcile[?dry_run=true]`: runs the reconcile job now and answers its report;
/// 409 `RECONCILE_RUNNING` while another run (any process) holds the lock.
struct ReconcileController {
    let reconciler: Reconciler

    func addRoutes(to router: some RouterMethods<CommerceRequestContext>) {
        router.post("/admin/reconcile") { request, _ in
            let dryRun: Bool
            switch request.uri.queryParameters["dry_run"] {
            case nil, "false": dryRun = false
            case "true": dryRun = true
            case let other?: throw Problem.invalidRequest("`dry_run`: must be true or false, not \(other)")
            }
            return JSONResponse.response(status: .ok, try await reconciler.run(dryRun: dryRun))
        }
    }
}
