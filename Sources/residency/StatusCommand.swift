import ArgumentParser
import ResidencyReport
import ResidencyRuntime

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show every node: zone, role, port, reachability, replication state, replay lag.",
        discussion: """
            Exits 0 when every shard has a primary and all its standbys streaming, 1 when not, \
            2 when the control server cannot be reached. The --json document is described in \
            the README.
            """)

    @OptionGroup var state: StateOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let directory = state.directory
        let layout = try directory.requireLayout()
        let control = try ControlStore(layout: layout)
        let status = try StatusCollector(control: control, data: DataNodes(layout: layout)).collect()
        Terminal.output(output.json ? StatusReport.json(status, state: directory.path) : StatusReport.text(status))
        if !status.isHealthy { throw ExitCode(Failure.checkFailed) }
    }
}
