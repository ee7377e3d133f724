/// Point balances and their ledger: every change of a balance is one ledger entry written in the
/// same transaction as the change.
public protocol PointStore: Sendable {
    /// Adds `amount` to the user's balance (creating user and balance on first charge) and
    /// records a `CHARGE` entry. Refused with `BALANCE_LIMIT_EXCEEDED` if the balance would pass
    /// ``PointLimits/balance``. With `idempotency`, a retry under the same key answers the stored
    /// response and charges nothing.
    func charge(userID: Int64, amount: Int64, at now: Int64,
                idempotency: IdempotencyRequest<PointBalance>?) async throws -> IdempotentResult<PointBalance>

    /// The user's balance; 0 for a user who never charged.
    func balance(userID: Int64) async throws -> PointBalance

    /// The user's latest `limit` ledger entries, newest first.
    func history(userID: Int64, limit: Int) async throws -> [PointEntry]
}

public enum PointLimits {
    /// The most a balance may hold (the contract's 10^13 won).
    public static let balance: Int64 = 10_000_000_000_000
}
