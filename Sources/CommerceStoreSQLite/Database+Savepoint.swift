import GRDB

extension Database {
    /// Runs `body` in a savepoint inside the current transaction: if it throws, its changes are
    /// rolled back (and the error rethrown) while the rest of the transaction stays.
    ///
    /// GRDB's `inSavepoint` parses its SAVEPOINT statements on every call; this one uses cached
    /// statements, since the group-commit writer opens one savepoint per request on the hot path.
    func withSavepoint<T>(_ body: () throws -> T) throws -> T {
        try cachedStatement(sql: "SAVEPOINT request").execute()
        do {
            let value = try body()
            try cachedStatement(sql: "RELEASE SAVEPOINT request").execute()
            return value
        } catch {
            // An I/O or disk-full error may already have rolled back the whole transaction.
            if isInsideTransaction {
                try cachedStatement(sql: "ROLLBACK TRANSACTION TO SAVEPOINT request").execute()
                try cachedStatement(sql: "RELEASE SAVEPOINT request").execute()
            }
            throw error
        }
    }
}
