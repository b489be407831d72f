import ArgumentParser
import ResidencyConfig
import ResidencyCore
import ResidencyReport

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a topology directory; print file:line:col for every problem.",
        discussion: """
            Loads topology.yaml and every region file, and checks names, realms, zones, \
            shards, ports and service levels. Exits 0 when valid, 65 when not.
            """)

    @OptionGroup var topology: TopologyOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        do {
            let loaded = try TopologyLoader.load(directory: topology.topology)
            if output.json {
                Terminal.output(JSONDocument.render(Summary(
                    version: JSONDocument.version, valid: true, problems: [], realms: loaded.realms.count,
                    regions: loaded.regions.count, zones: loaded.regions.reduce(0) { $0 + $1.zones.count },
                    shards: loaded.shards.count, nodes: loaded.nodes.count)))
            } else {
                Terminal.output("\(topology.topology): valid: \(loaded.realms.count) realms, \(loaded.regions.count) regions, \(loaded.regions.reduce(0) { $0 + $1.zones.count }) zones, \(loaded.shards.count) shards, \(loaded.nodes.count) nodes")
            }
        } catch {
            if output.json {
                Terminal.output(JSONDocument.render(Summary(
                    version: JSONDocument.version, valid: false,
                    problems: error.problems.map { Problem(file: $0.file, line: $0.line, column: $0.column, message: $0.message) },
                    realms: nil, regions: nil, zones: nil, shards: nil, nodes: nil)))
                throw ExitCode(Failure.invalidInput)
            }
            throw error
        }
    }

    struct Summary: Encodable {
        let version: Int
        let valid: Bool
        let problems: [Problem]
        let realms, regions, zones, shards, nodes: Int?
    }

    struct Problem: Encodable {
        let file: String
        let line: Int
        let column: Int
        let message: String
    }
}
