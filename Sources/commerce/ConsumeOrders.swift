import ArgumentParser
import CommerceCore
import Foundation
import Logging
import NIOCore
import RedisClient
import ServiceLifecycle

struct ConsumeOrders: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consume-orders",
        abstract: "Print the order events of stream:orders, one JSON line each (the sample data-platform consumer).",
        discussion: """
            Reads with a consumer group and acknowledges each event after printing it. A new group \
            starts at the beginning of the stream; a consumer restarted under the same name first \
            prints what it had received but not acknowledged before (delivery is at least once: \
            drop repeats by event_id). While Redis is unreachable it waits (logging to stderr) and \
            carries on when it is back. SIGINT or SIGTERM stops it.
            """
    )

    @OptionGroup var redisOption: RedisOption

    @Option(help: "Consumer group; each group sees every event once. (env: COMMERCE_GROUP, default: data-platform)")
    var group: String?

    @Option(help: "This consumer's name within the group; reuse it after a crash to get back its unacknowledged events. (env: COMMERCE_CONSUMER, default: consumer-<hostname>)")
    var consumer: String?

    func run() async throws {
        var redisConfiguration = try redisOption.resolvedRedis()
        // Reads block for up to a second waiting for new events; the reply may take that long.
        redisConfiguration.commandTimeout = .seconds(5)
        let redis = redisConfiguration.makeClient()
        let logger = Logger(label: "consume-orders")
        let reader = OrderStreamConsumer(
            redis: redis,
            group: try resolve(group, env: "COMMERCE_GROUP", default: "data-platform"),
            consumer: try resolve(consumer, env: "COMMERCE_CONSUMER", default: "consumer-\(ProcessInfo.processInfo.hostName)"),
            logger: logger
        )
        let services = ServiceGroup(configuration: .init(
            // The printer ends by itself when its output's reader goes away: then all stop.
            services: [.init(service: redis), .init(service: PrintingConsumer(reader: reader), successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        try await services.run()
    }
}

/// Prints each event's JSON on its own line, written straight to the file descriptor so a
/// pipe sees every line as soon as it is handled.
private struct PrintingConsumer: Service {
    let reader: OrderStreamConsumer

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            do {
                try await reader.run { entry in
                    do {
                        try FileHandle.standardOutput.write(contentsOf: Data((entry.event ?? "").utf8 + [UInt8(ascii: "\n")]))
                    } catch {
                        throw OutputClosed()
                    }
                }
            } catch is OutputClosed {
                // The reader of the output went away (`| head`): done, the entry stays unacknowledged.
            } catch is CancellationError {
            } catch let error as RedisError where error.code == .clientClosed {
            }
        }
    }
}

/// Standard output can no longer be written (its reader closed the pipe).
private struct OutputClosed: Error {}
