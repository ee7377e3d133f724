#!/usr/bin/env python3
"""Splits a perf profile of the server (cpu-clock samples) by where the time goes: kernel work
by kind, the Swift runtime, libraries, and the server's own code by Swift module (from the
mangled name). scripts/profile-coupons calls it.

usage: perf_split.py NAME PERF_DATA CPU_MICROSECONDS_PER_REQUEST"""
import re, subprocess, sys
from collections import defaultdict

KERNEL = [
    ("kernel: scheduling, futex, wake-ups", r"schedule|switch|futex|wake|sem_|_raw_spin|hrtimer|enqueue|dequeue|pick_next|update_curr|idle|tick|irq"),
    ("kernel: sockets (TCP, epoll, read/write)", r"tcp|sock|skb|ip_|inet|epoll|ep_|__sys_|iov|net|loopback|napi|dev_|copy_|readv|writev|recv|send|eventfd"),
    ("kernel: files (WAL writes, fsync)", r"ext4|jbd2|blk|bio|fsync|filemap|folio|page|iomap|mpage|submit|iowrite|virtio|vfs_write|generic_perform_write"),
]
GROUPS = [
    ("SQLite", lambda o, s: "sqlite3" in o),
    ("Swift retain/release", lambda o, s: re.search(r"swift_(retain|release|bridgeObject(Retain|Release)|unknownObject|isUniquely)", s)),
    ("Swift generic metadata lookups", lambda o, s: re.search(r"Metadata|getCache|ConcurrentReadableHashMap|TupleCache|swift_getAssociated|swift_conformsTo|WitnessTable|instantiate", s)),
    ("malloc/free", lambda o, s: "libc" in o and re.search(r"malloc|free|_int_|tcache|calloc|realloc", s)),
    ("libc other (memcpy, locks, syscalls)", lambda o, s: "libc" in o or "ld-linux" in o or "vdso" in o),
    ("Swift concurrency runtime (task hops)", lambda o, s: "swift_Concurrency" in o),
    ("Dispatch (SQLite writer queue)", lambda o, s: "dispatch" in o),
    ("Foundation", lambda o, s: "Foundation" in o),
    ("Swift stdlib (strings, arrays, hashing)", lambda o, s: "swiftCore" in o),
    ("crypto (token HMAC)", lambda o, s: re.search(r"Crypto|BoringSSL|sha256|SHA256|HMAC", s) or "Crypto" in o),
]
MODULE_GROUPS = {
    "SwiftNIO": ("NIOCore", "NIOPosix", "NIOHTTP1", "NIOConcurrencyHelpers", "NIOExtras", "NIOHTTPTypes", "NIOHTTPTypesHTTP1", "_NIODataStructures"),
    "Hummingbird + HTTPTypes": ("Hummingbird", "HummingbirdCore", "HummingbirdHTTP1", "HTTPTypes", "HummingbirdRouter"),
    "metrics + logging": ("Metrics", "CoreMetrics", "Prometheus", "Logging"),
    "service lifecycle, async algorithms": ("ServiceLifecycle", "AsyncAlgorithms", "ServiceTasks"),
}


def module_of(symbol):
    m = re.match(r"\$s(\d+)([A-Za-z_][A-Za-z0-9_]*)", symbol)
    return m.group(2)[:int(m.group(1))] if m else None


def group_of(obj, kernel, symbol):
    if kernel:
        for name, pattern in KERNEL:
            if re.search(pattern, symbol):
                return name
        return "kernel: other"
    for name, test in GROUPS:
        if test(obj, symbol):
            return name
    if obj == "commerce":
        module = module_of(symbol)
        for name, modules in MODULE_GROUPS.items():
            if module in modules:
                return name
        return module or "server binary, other"
    return obj or "unknown"


def main():
    name, data, cpu_per_request = sys.argv[1], sys.argv[2], float(sys.argv[3])
    text = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "dso,sym", "-g", "none", "--stdio"],
                          capture_output=True, text=True).stdout
    groups = defaultdict(float)
    functions = []
    for line in text.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[([k.])\]\s+(.*)$", line)
        if not m:
            continue
        share, obj, kind, symbol = float(m.group(1)), m.group(2), m.group(3), m.group(4).strip()
        groups[group_of(obj, kind == "k", symbol)] += share
        functions.append((share, symbol))
    threads = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "comm", "-g", "none", "--stdio"],
                             capture_output=True, text=True).stdout
    print(f"\n{name}: {cpu_per_request:.0f} µs of server CPU per request; where it goes (% of the server's samples, self):")
    for group, share in sorted(groups.items(), key=lambda kv: -kv[1]):
        if share >= 0.5:
            print(f"  {share:5.1f}%  {share * cpu_per_request / 100:5.1f} µs  {group}")
    print("  by thread: " + ", ".join(f"{m.group(2)} {m.group(1)}%" for m in
                                       re.finditer(r"^\s*([\d.]+)%\s+(\S+)", threads, re.M)))
    top = sorted(functions, reverse=True)[:10]
    demangled = subprocess.run(["swift", "demangle", "--simplified", "--compact"], input="\n".join(s for _, s in top),
                               capture_output=True, text=True).stdout.splitlines()
    print("  top functions (self):")
    for (share, symbol), readable in zip(top, demangled or [s for _, s in top]):
        print(f"  {share:5.1f}%  {readable[:110]}")


if __name__ == "__main__":
    main()
