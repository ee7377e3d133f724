import ArgumentParser
import Logging

@main
struct Commerce: AsyncParsableCommand {
    static func main() async {
        LoggingSystem.bootstrap(StandardOutputLogHandler.init)
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }

    static let configuration = CommandConfiguration(
        commandName: "commerce",
        abstract: "A Redis-fronted commerce service: points, items, first-come coupons, orders.",
        discussion: """
            Every option can also be set with an environment variable COMMERCE_<OPTION> \
            (e.g. COMMERCE_DB, COMMERCE_REDIS); a flag on the command line wins.
            """,
        subcommands: [Serve.self, Seed.self, Reconcile.self, Token.self, ConsumeOrders.self]
    )
}
