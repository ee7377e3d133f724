import ServiceLifecycle

/// The loop of a service that retries, every `interval`, what Redis could not take at the time
/// (give-backs, cache invalidations): `body` runs after each pause, and once more on graceful
/// shutdown or cancellation, so a last attempt is made before the service stops.
public func repeatUntilShutdown(every interval: Duration, _ body: () async -> Void) async {
    while (try? await cancelWhenGracefulShutdown({ try await Task.sleep(for: interval) })) != nil {
        await body()
    }
    await body()
}
