import ServiceLifecycleTestKit
import ServiceTasks
import Synchronization
import Testing

@Suite struct ServiceTasksTests {
    @Test func workSubmittedBeforeAndDuringRunAllRunsAndShutdownWaitsForIt() async throws {
        let tasks = ServiceTasks()
        let done = Atomic<Int>(0)
        let work: @Sendable () async -> Void = {
            try? await Task.sleep(for: .milliseconds(100))
            done.add(1, ordering: .relaxed)
        }
        #expect(tasks.submit(work))  // before run(): waits for it
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await tasks.run() }
                #expect(tasks.submit(work))
                try await Task.sleep(for: .milliseconds(20))
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
        // run() returned only once both had finished, however early shutdown came.
        #expect(done.load(ordering: .relaxed) == 2)
        #expect(tasks.submit(work) == false)
    }

    @Test func cancellingRunStopsTakingWorkButFinishesWhatItAccepted() async throws {
        let tasks = ServiceTasks()
        let ran = Atomic<Int>(0)
        let runner = Task { await tasks.run() }
        for _ in 0..<10 { #expect(tasks.submit { ran.add(1, ordering: .relaxed) }) }
        runner.cancel()
        await runner.value
        #expect(ran.load(ordering: .relaxed) == 10)
        #expect(tasks.submit { ran.add(1, ordering: .relaxed) } == false)
    }
}
