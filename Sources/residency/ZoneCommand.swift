import ArgumentParser
import ResidencyCore
import ResidencyReport
import ResidencyRuntime

struct ZoneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zone",
        abstract: "Take a zone down the way drills do, and bring it back.",
        subcommands: [Stop.self, Start.self])

    struct Stop: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Kill (power-loss) or freeze (partition) every server process of a zone at once.",
            discussion: "The zone is recorded as held down: neither `up` nor the coordinator starts it until `zone start`.")

        @Argument(help: "The zone, e.g. eu-central-a.")
        var zone: String
        @Option(help: "power-loss (SIGKILL) or partition (SIGSTOP).")
        var mode: String = ZoneFaults.Mode.powerLoss.rawValue
        @OptionGroup var state: StateOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            guard let mode = ZoneFaults.Mode(rawValue: mode) else {
                throw ValidationError("--mode must be one of: \(ZoneFaults.Mode.allCases.map(\.rawValue).joined(separator: ", ")); got '\(mode)'")
            }
            let layout = try state.directory.requireLayout()
            let control = try ControlStore(layout: layout)
            let signalled = try ZoneFaults(layout: layout, control: control).stop(ZoneID(zone), mode: mode)
            ZoneCommand.report(signalled, verb: mode == .powerLoss ? "killed" : "froze", json: output.json)
        }
    }

    struct Start: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Release a held zone: thaw frozen servers; stopped ones are restarted by the coordinator (or `up`).",
            discussion: "Former primaries are fenced and rewound before they rejoin as standbys.")

        @Argument(help: "The zone, e.g. eu-central-a.")
        var zone: String
        @OptionGroup var state: StateOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let layout = try state.directory.requireLayout()
            let control = try ControlStore(layout: layout)
            let thawed = try ZoneFaults(layout: layout, control: control).start(ZoneID(zone))
            ZoneCommand.report(thawed, verb: "thawed", json: output.json)
            if !output.json, (try? control.leaseHolder()) == nil {
                Terminal.output("no coordinator runs: run `residency up` to restart the zone's stopped servers")
            }
        }
    }

    static func report(_ nodes: [(node: NodeID, pids: [Int32])], verb: String, json: Bool) {
        if json {
            struct Entry: Encodable { let node: String; let pids: [Int32] }
            struct Document: Encodable { let version: Int; let action: String; let nodes: [Entry] }
            Terminal.output(JSONDocument.render(Document(version: JSONDocument.version, action: verb,
                                                         nodes: nodes.map { Entry(node: $0.node.description, pids: $0.pids) })))
        } else {
            for (node, pids) in nodes {
                Terminal.output("\(verb) \(node): \(pids.isEmpty ? "no process" : pids.map(String.init).joined(separator: " "))")
            }
        }
    }
}
