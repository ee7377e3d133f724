import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The process's open-file limit (RLIMIT_NOFILE). Every client connection costs a descriptor,
/// so this limit bounds how many connections the server can hold.
struct OpenFileLimit: Equatable {
    var soft: Int
    /// What the soft limit may be raised to without privileges; `Int.max` when unlimited.
    var hard: Int

    /// The hard limit as a person reads it.
    var hardText: String { hard == Int.max ? "unlimited" : String(hard) }

    static func current() -> OpenFileLimit {
        var limit = rlimit()
        getrlimit(resource, &limit)
        return OpenFileLimit(limit)
    }

    /// Raises the soft limit to the hard one, as Go's runtime and nginx's `worker_rlimit_nofile`
    /// do: services often start with a soft limit of 1,024, far below what a flood of clients
    /// needs, while the hard limit is what the administrator allows. An unlimited hard limit is
    /// taken as the kernel's per-process ceiling (fs.nr_open), the most setrlimit accepts.
    /// Returns the limit found and the limit now in force (the same if the kernel refused).
    static func raiseSoftToHard() -> (before: OpenFileLimit, now: OpenFileLimit) {
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0 else { return (current(), current()) }
        let before = OpenFileLimit(limit)
        // RLIM_INFINITY, which Swift does not import.
        limit.rlim_cur = limit.rlim_max == rlim_t.max ? rlim_t(kernelCeiling() ?? before.soft) : limit.rlim_max
        guard limit.rlim_cur > rlim_t(before.soft) else { return (before, before) }
        setrlimit(resource, &limit)
        return (before, current())
    }

    private init(_ limit: rlimit) {
        soft = Int(clamping: limit.rlim_cur)
        hard = Int(clamping: limit.rlim_max)
    }

    private static let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)

    private static func kernelCeiling() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/sys/fs/nr_open", encoding: .utf8) else { return nil }
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
