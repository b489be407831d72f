import ArgumentParser
import Foundation
import Logging
import ResidencyConfig
import ResidencyCore
import ResidencyReport
import ResidencyRuntime

struct UpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Create (once) and start the local topology: the control server and every node.",
        discussion: """
            Each shard primary gets its own initdb (with data checksums); standbys are base \
            backups of it. Each primary waits for ANY 1 of its in-region standbys before it \
            acknowledges a commit. Running `up` again changes nothing on a running topology, \
            restarts a stopped one in the roles the control database records, and resumes one \
            whose creation was interrupted. It refuses (exit 65) when regions/ changed since \
            the topology was created, and lists the differences.

            As root, the servers run as the `postgres` OS user.
            """)

    @OptionGroup var topology: TopologyOptions
    @OptionGroup var state: StateOptions
    @Flag(name: .long, help: "Also create demo tenants (one per realm) with rows.")
    var demo = false
    @Flag(name: .long, help: "Do not start the background coordinator (no automatic failover).")
    var noCoordinator = false
    @OptionGroup var output: OutputOptions

    func run() throws {
        let loaded = try TopologyLoader.load(directory: topology.topology)
        let directory = state.directory
        let start = ContinuousClock.now
        let runner = LocalTopology(state: directory, logger: Logger(label: "residency.up"), progress: Terminal.progress())
        let report = try runner.up(loaded, topologyDirectory: topology.topology, demo: demo, startCoordinator: !noCoordinator)
        let elapsed = ContinuousClock.now - start
        let seconds = elapsed.inSeconds
        if output.json {
            Terminal.output(JSONDocument.render(Document(
                version: JSONDocument.version, state: directory.path, created: report.created, started: report.started,
                reconfigured: report.reconfigured, tenantsCreated: report.tenantsCreated.map(\.rawValue),
                changedNothing: report.changedNothing, seconds: (seconds * 1000).rounded() / 1000)))
            return
        }
        if report.changedNothing {
            Terminal.output("topology in \(directory.path) is already up: nothing changed")
            return
        }
        if !report.created.isEmpty { Terminal.output("created: \(report.created.joined(separator: ", "))") }
        if !report.started.isEmpty { Terminal.output("started: \(report.started.joined(separator: ", "))") }
        for line in report.reconfigured { Terminal.output("set: \(line)") }
        if !report.tenantsCreated.isEmpty { Terminal.output("demo tenants: \(report.tenantsCreated.map(\.rawValue).joined(separator: ", "))") }
        if report.coordinatorStarted, let pid = report.coordinatorPID {
            Terminal.output("coordinator started (pid \(pid)); log: \(CoordinatorProcess(state: directory).logFile)")
        }
        Terminal.output(String(format: "topology up in %.1f s: %d shard(s), %d node(s); see `residency status`", seconds, loaded.shards.count, loaded.nodes.count))
    }

    struct Document: Encodable {
        let version: Int
        let state: String
        let created, started, reconfigured, tenantsCreated: [String]
        let changedNothing: Bool
        let seconds: Double

        enum CodingKeys: String, CodingKey {
            case version, state, created, started, reconfigured, seconds
            case tenantsCreated = "tenants_created", changedNothing = "changed_nothing"
        }
    }
}
