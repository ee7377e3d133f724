import ArgumentParser
import CommerceCore

@main
struct Commerce: AsyncParsableCommand {
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
