import Foundation
import ResidencyCore
import Yams

/// Loads `regions/`: `topology.yaml` (realms, apps, failover, service levels, control
/// server) and one file per region (`*.yaml`, any other name not starting with `.` or `#`).
/// Every rule that makes a
/// topology unusable is checked here, with the position of the offending value.
public enum TopologyLoader {
    /// The file holding everything that is not a region.
    public static let topologyFileName = "topology.yaml"

    /// Loads and validates the topology in `directory`; throws `ConfigErrors` listing every problem.
    public static func load(directory: String) throws(ConfigErrors) -> Topology {
        var files: [String]
        do {
            files = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw ConfigErrors(problems: [ConfigProblem(
                file: directory, line: 1, column: 1, message: "cannot read the topology directory: \(error.localizedDescription)")])
        }
        // Editors' lock and backup files (`.#us-east.yaml`, `#us-east.yaml#`) and hidden files are no regions.
        files = files.filter { !$0.hasPrefix(".") && !$0.hasPrefix("#") && ($0.hasSuffix(".yaml") || $0.hasSuffix(".yml")) }.sorted()
        guard files.contains(topologyFileName) else {
            throw ConfigErrors(problems: [ConfigProblem(
                file: path(directory, topologyFileName), line: 1, column: 1,
                message: "missing: every topology directory has a \(topologyFileName) with realms, apps, failover and service levels")])
        }
        var sources: [(file: String, text: String)] = []
        var problems: [ConfigProblem] = []
        for name in [topologyFileName] + files.filter({ $0 != topologyFileName }) {
            let file = path(directory, name)
            do {
                sources.append((file, try String(contentsOfFile: file, encoding: .utf8)))
            } catch {
                problems.append(ConfigProblem(file: file, line: 1, column: 1, message: "cannot read: \(error.localizedDescription)"))
            }
        }
        if !problems.isEmpty { throw ConfigErrors(problems: problems) }
        return try load(sources: sources)
    }

    /// Loads from file contents; the first source is `topology.yaml`, the rest are regions.
    public static func load(sources: [(file: String, text: String)]) throws(ConfigErrors) -> Topology {
        precondition(!sources.isEmpty, "load needs topology.yaml")
        var builder = TopologyBuilder()
        builder.readTopologyFile(file: sources[0].file, text: sources[0].text)
        for source in sources.dropFirst() {
            builder.readRegionFile(file: source.file, text: source.text)
        }
        return try builder.build()
    }

    private static func path(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }
}
