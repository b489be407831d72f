import ArgumentParser
import Foundation
import Logging
import ResidencyChaos
import ResidencyConfig
import ResidencyCore
import ResidencyReport
import ResidencyRuntime

struct DrillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drill",
        abstract: "Run a scenario against real PostgreSQL processes and judge RTO, RPO, residency and SLA.",
        discussion: """
            Brings the topology up if needed, creates the scenario's tenants, writes through their connection strings, injects the faults on time (power loss, partition, crashes, and residency moves: a fault may wait for a move's phase), heals, waits until the topology has converged, reads every node back and checks the history: acknowledged writes lost (RPO), duplicates, acknowledgements by a former primary after its successor's promotion, rows outside their realm, per-shard RTO, each move's outcome, its tenant's longest write gap and its neighbours' failures, each tenant restore (writes acknowledged before its target back, none begun after it, the other tenants' rows unchanged), downtime minutes and what they mean for the month's SLA. Refuses nodes with weakened durability.

            Exit 0 when every target holds, 1 when one is missed, 2 when the drill could not run, 65 for an invalid scenario. With --check it only loads and checks the scenario against its topology (no server is touched). The full result is also kept in <state>/drills/.

            Examples:
              residency drill simulations/zone-power-loss.yaml --report drill.md
              residency drill simulations/move-under-load.yaml --repeat 5
              residency drill simulations/restore-tenant.yaml
            """)

    @Argument(help: "The scenario file, e.g. simulations/zone-power-loss.yaml.")
    var scenario: String
    @Option(help: ArgumentHelp("Also write the report to FILE: .md, .html or .json.", valueName: "file"))
    var report: String?
    @Option(help: "Run the scenario N times and print the distributions of RTO, a move's time from the end of its copy to its switch, its freeze and write gap.")
    var `repeat`: Int = 1
    @Flag(help: "Only load the scenario and check it against its topology; touch no server. Exit 0 when it is valid, 65 when not.")
    var check = false
    @OptionGroup var state: StateOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard (1...1000).contains(`repeat`) else { throw ValidationError("--repeat must be from 1 to 1000, not \(`repeat`)") }
        if let report, !["md", "html", "json"].contains(URL(fileURLWithPath: report).pathExtension) {
            throw ValidationError("--report must end in .md, .html or .json: '\(report)'")
        }
    }

    private struct CheckDocument: Encodable {
        let version = JSONDocument.version
        let scenario: String
        let topology: String
        let valid: Bool
    }

    func run() throws {
        let loaded = try ScenarioLoader.load(file: scenario)
        let topologyPath = Self.topologyPath(of: loaded.scenario, file: scenario)
        let topology = try TopologyLoader.load(directory: topologyPath)
        try ScenarioLoader.check(loaded, against: topology, file: scenario)
        if check {
            let summary = "scenario \(loaded.scenario.name) is valid against \(topologyPath): \(loaded.scenario.tenants.count) tenant(s), \(loaded.scenario.faults.count) fault(s), \(Int(loaded.scenario.duration.inSeconds)) s"
            Terminal.output(output.json ? JSONDocument.render(CheckDocument(scenario: loaded.scenario.name, topology: topologyPath, valid: true)) : summary)
            return
        }
        let directory = state.directory
        var logger = Logger(label: "residency.drill")
        logger.logLevel = .warning
        var results: [DrillResult] = []
        for round in 1...`repeat` {
            let progress = Terminal.progress()
            let drill = Drill(scenario: loaded.scenario, topology: topology, topologyDirectory: topologyPath, state: directory, logger: logger,
                              progress: { progress(`repeat` > 1 ? "[\(round)/\(`repeat`)] \($0)" : $0) })
            let result = try drill.run()
            results.append(result)
            try Self.keep(result, in: directory)
            if `repeat` > 1 {
                let moves = result.checker.moves.map { finding in
                    "; move of \(finding.move.tenant) \(finding.move.outcome)" + (finding.move.catchUpMs.map { ", copy end to switch \($0) ms" } ?? "")
                        + (finding.move.freezeMs.map { ", freeze \($0) ms" } ?? "")
                        + ", longest write gap \(finding.longestGapMs) ms"
                }.joined()
                Terminal.error("run \(round): \(result.verdict.passed ? "passed" : "FAILED"), worst RTO \(result.checker.worstRecoveryMs.map { "\($0) ms" } ?? "-")\(moves)")
            }
        }
        let last = results[results.count - 1]
        if let report { try write(last, to: report) }
        if output.json {
            Terminal.output(DrillReport.json(last))
        } else {
            Terminal.output(DrillReport.text(last))
            if results.count > 1 {
                func figures(_ name: String, _ values: [Int64]) -> String {
                    let sorted = values.sorted()
                    guard let max = sorted.last else { return "" }
                    func at(_ q: Double) -> Int64 { sorted[min(sorted.count - 1, Int((q * Double(sorted.count - 1)).rounded(.up)))] }
                    return "; \(name) median \(at(0.5)) ms, p99 \(at(0.99)) ms, max \(max) ms"
                }
                let switched = results.flatMap(\.checker.moves).filter(\.move.switched)
                Terminal.output("\(results.count) runs, \(results.filter(\.verdict.passed).count) passed"
                    + figures("worst-shard RTO", results.compactMap(\.checker.worstRecoveryMs))
                    + figures("move copy end to switch", switched.compactMap(\.move.catchUpMs))
                    + figures("move write freeze", switched.compactMap(\.move.freezeMs))
                    + figures("moving tenant's longest write gap", switched.map(\.longestGapMs)))
            }
        }
        if !results.allSatisfy(\.verdict.passed) { throw ExitCode(Failure.checkFailed) }
    }

    /// The topology directory a scenario file names (relative to the file's folder).
    static func topologyPath(of scenario: Scenario, file: String) -> String {
        let folder = URL(fileURLWithPath: file).deletingLastPathComponent()
        return scenario.topologyDirectory.hasPrefix("/")
            ? scenario.topologyDirectory : folder.appendingPathComponent(scenario.topologyDirectory).standardizedFileURL.path
    }

    /// Keeps a drill's full result in <state>/drills/ (where `simulate sla --calibrate-from` reads them).
    static func keep(_ result: DrillResult, in directory: StateDirectory) throws {
        let folder = directory.path + "/drills"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try DrillReport.json(result).write(toFile: "\(folder)/\(result.startedAtMs)-\(result.scenario.name).json", atomically: true, encoding: .utf8)
    }

    private func write(_ result: DrillResult, to file: String) throws {
        let text: String
        switch URL(fileURLWithPath: file).pathExtension {
        case "md": text = DrillReport.markdown(result)
        case "html": text = DrillReport.html(result)
        default: text = DrillReport.json(result)
        }
        do {
            try text.write(toFile: file, atomically: true, encoding: .utf8)
        } catch {
            throw Failure(message: "cannot write the report \(file): \(error.localizedDescription)", exitCode: Failure.unavailable)
        }
    }
}
