import ArgumentParser

struct SwitchoverCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchover",
        abstract: "Planned role swap inside a shard with no loss: the target catches up, then the roles swap.",
        discussion: """
            The old primary stops acknowledging commits, the target replays everything it wrote, \
            the epoch is bumped, the target gets its synchronous standbys and is promoted; the \
            old primary is stopped and rejoins as a standby. Writes pause for the swap only. \
            Needs a running coordinator. Exit 1 when the coordinator refused.
            """)

    @Argument(help: "The shard, e.g. eu-central-1.")
    var shard: String
    @Option(help: "The zone of the standby to promote.")
    var to: String
    @Option(help: "Seconds to wait for the outcome.")
    var timeout: Double = 60
    @OptionGroup var state: StateOptions

    func run() throws {
        try OperatorRequest.submit(kind: "switchover", shard: shard, zone: to, state: state, timeoutSeconds: timeout)
    }
}
