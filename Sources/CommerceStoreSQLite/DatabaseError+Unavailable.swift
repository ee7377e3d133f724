import GRDB

extension DatabaseError {
    /// The database could not take the request at all — locked by another process past the busy
    /// timeout, disk full, an I/O error, a read-only file — as opposed to a bug in a statement.
    /// The transaction was rolled back, so nothing was changed and a retry later may succeed.
    var isUnavailable: Bool {
        switch resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED, .SQLITE_FULL, .SQLITE_IOERR, .SQLITE_READONLY, .SQLITE_CANTOPEN, .SQLITE_PROTOCOL:
            return true
        default:
            return false
        }
    }
}
