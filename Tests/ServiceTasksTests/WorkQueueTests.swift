import ServiceLifecycleTestKit
import ServiceTasks
import Synchronization
import Testing

@Suite struct WorkQueueTests {
    @Test func theConsumerGetsEveryElementOnceInOrderAndWaitsForMore() async throws {
        let queue = WorkQueue<Int>()
        let consumer = Task {
            var seen: [Int] = []
            while let batch = await queue.next(upTo: 7) {
                #expect(batch.count <= 7)
                seen += batch
            }
            return seen
        }
        // Appended from many tasks at once; each task's own elements keep their order.
        await withTaskGroup(of: Void.self) { group in
            for producer in 0..<10 {
                group.addTask { for n in 0..<100 { #expect(queue.append(producer * 1_000 + n)) } }
            }
        }
        try await Task.sleep(for: .milliseconds(20))
        queue.stop()
        let seen = await consumer.value
        #expect(seen.count == 1_000 && Set(seen).count == 1_000)
        for producer in 0..<10 {
            let own = seen.filter { $0 / 1_000 == producer }
            #expect(own == own.sorted())
        }
        #expect(queue.append(1) == false)
    }

    @Test func stoppingHandsOutWhatIsLeftAndARemovedElementIsNeverHandedOut() async throws {
        let queue = WorkQueue<Int>()
        for n in 1...5 { #expect(queue.append(n)) }
        #expect(queue.remove { $0 == 3 } == 3)
        #expect(queue.remove { $0 == 3 } == nil)
        queue.stop()
        #expect(await queue.next(upTo: 2) == [1, 2])
        #expect(await queue.next(upTo: 10) == [4, 5])
        #expect(await queue.next(upTo: 10) == nil)
    }
}

@Suite struct RepeatUntilShutdownTests {
    @Test func runsEveryIntervalAndOnceMoreOnShutdown() async throws {
        let runs = Counter()
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await repeatUntilShutdown(every: .milliseconds(10)) { runs.add() } }
                try await Task.sleep(for: .milliseconds(200))
                let before = runs.value
                #expect(before >= 3)
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
                // The last attempt came after shutdown was asked for.
                #expect(runs.value >= before + 1)
            }
        }
    }
}

private final class Counter: Sendable {
    private let count = Atomic<Int>(0)
    func add() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}
