import ArgumentParser

struct FailoverCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "failover",
        abstract: "Force a promotion the coordinator refused (two zones down): may lose acknowledged writes.",
        discussion: """
            The coordinator refuses a failover it cannot prove safe (rule 2). --force promotes \
            the standby of the given zone anyway (still never outside the shard's region) and \
            the event log records that an operator forced it.
            """)

    @Argument(help: "The shard, e.g. eu-central-1.")
    var shard: String
    @Option(help: "The zone of the standby to promote.")
    var to: String
    @Flag(help: "Required: acknowledge that acknowledged writes may be lost.")
    var force = false
    @Option(help: "Seconds to wait for the outcome.")
    var timeout: Double = 60
    @OptionGroup var state: StateOptions

    func validate() throws {
        guard force else { throw ValidationError("a forced failover needs --force: it may lose acknowledged writes") }
    }

    func run() throws {
        try OperatorRequest.submit(kind: "failover", shard: shard, zone: to, state: state, timeoutSeconds: timeout)
    }
}
