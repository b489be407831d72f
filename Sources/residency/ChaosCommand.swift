import ArgumentParser
import Foundation
import Logging
import ResidencyChaos
import ResidencyConfig
import ResidencyCore
import ResidencyReport
import ResidencyRuntime

struct ChaosCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chaos",
        abstract: "Random drills on the real processes: a fault schedule per round drawn from a seed, one verdict per round.",
        discussion: """
            Each round draws a schedule from the seed (`ChaosPlan`): writers on a tenant of every \\
            region, and one to three episodes one after another, each healed and settled before \\
            the next: a zone power loss or partition of a shard's primary (always first), a \\
            crashed primary, a coordinator crash and restart, a coordinator that dies at a \\
            failover step during a power loss, a residency move with a power loss while its copy \\
            runs. The round is written out as a scenario (DIR/chaos-SEED-ROUND.yaml) and run as \\
            `residency drill` runs it: the drill's writers and checker give its verdict (no \\
            acknowledged write lost, RTO <= 10 s, residency, moves ended). `residency drill FILE` \\
            replays a round exactly; the same seed draws the same rounds.

            Exit 0 when every round passed, 1 when one failed (its file and replay command are \\
            printed), 2 when a drill could not run. Results are kept in <state>/drills/ as for drills.

            Examples:
              residency chaos --seed 7 --rounds 5
              residency chaos --seed 7 --rounds 20 --dry-run --out /tmp/chaos
            """)

    @Option(help: "The seed the rounds are drawn from (default: from the clock; printed, so the run can be repeated).")
    var seed: UInt64?
    @Option(help: "Rounds to draw and run.")
    var rounds = 1
    @Option(help: ArgumentHelp("Where the rounds' scenarios are written (default: <state>/chaos).", valueName: "dir"))
    var out: String?
    @Flag(help: "Write the rounds' scenarios and run none.")
    var dryRun = false
    @OptionGroup var topology: TopologyOptions
    @OptionGroup var state: StateOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard (1...10_000).contains(rounds) else { throw ValidationError("--rounds must be from 1 to 10000, not \(rounds)") }
    }

    private struct Round: Encodable {
        let round: Int
        let scenario: String
        let episodes: String
        let passed: Bool?
        let worstRtoMs: Int64?
        let lostAcknowledged: Int?
        let failedChecks: [String]
        let replay: String
    }

    private struct Document: Encodable {
        let version = JSONDocument.version
        let seed: UInt64
        let rounds: [Round]
    }

    func run() throws {
        let seed = seed ?? UInt64(Date().timeIntervalSince1970 * 1_000)
        let topologyPath = URL(fileURLWithPath: topology.topology).standardizedFileURL.path
        let loadedTopology = try TopologyLoader.load(directory: topologyPath)
        let directory = state.directory
        let folder = out ?? directory.path + "/chaos"
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw Failure(message: "cannot create --out \(folder): \(error.localizedDescription)", exitCode: Failure.unavailable)
        }
        var logger = Logger(label: "residency.chaos")
        logger.logLevel = .warning
        var done: [Round] = []
        for round in 1...rounds {
            guard let scenario = ChaosPlan.scenario(topology: loadedTopology, topologyDirectory: topologyPath, seed: seed, round: round) else {
                throw Failure(message: "\(topologyPath) has no shard to drill", exitCode: Failure.invalidInput)
            }
            let file = "\(folder)/\(scenario.name).yaml"
            let text = ScenarioWriter.yaml(scenario, comment: "Drawn by `residency chaos --seed \(seed)`, round \(round). Replay: residency drill \(file)")
            do {
                try text.write(toFile: file, atomically: true, encoding: .utf8)
            } catch {
                throw Failure(message: "cannot write \(file): \(error.localizedDescription)", exitCode: Failure.unavailable)
            }
            // What runs is what the file says: read back as `drill` would.
            let loaded = try ScenarioLoader.load(file: file)
            try ScenarioLoader.check(loaded, against: loadedTopology, file: file)
            let episodes = String(scenario.summary.split(separator: ": ", maxSplits: 1).last ?? "")
            let replay = "residency drill \(file)" + (state.state.map { " --state \($0)" } ?? "")
            guard !dryRun else {
                done.append(Round(round: round, scenario: file, episodes: episodes, passed: nil, worstRtoMs: nil, lostAcknowledged: nil, failedChecks: [], replay: replay))
                if !output.json { Terminal.output("round \(round)/\(rounds): \(episodes) -> \(file)") }
                continue
            }
            let progress = Terminal.progress()
            let drill = Drill(scenario: loaded.scenario, topology: loadedTopology, topologyDirectory: topologyPath, state: directory, logger: logger,
                              progress: { progress("[\(round)/\(rounds)] \($0)") })
            let result = try drill.run()
            try DrillCommand.keep(result, in: directory)
            let failed = result.verdict.checks.filter { !$0.held }.map { "\($0.name): expected \($0.expected), measured \($0.measured)" }
            let summary = Round(round: round, scenario: file, episodes: episodes, passed: result.verdict.passed, worstRtoMs: result.checker.worstRecoveryMs,
                                lostAcknowledged: result.checker.lostAcknowledged, failedChecks: failed, replay: replay)
            done.append(summary)
            if !output.json {
                Terminal.output("round \(round)/\(rounds): \(result.verdict.passed ? "passed" : "FAILED") · \(episodes) · worst RTO "
                    + "\(result.checker.worstRecoveryMs.map { "\($0) ms" } ?? "-") · acknowledged writes lost \(result.checker.lostAcknowledged)"
                    + (result.verdict.passed ? "" : "\n  " + failed.joined(separator: "\n  ") + "\n  replay: \(replay)"))
            }
        }
        if output.json {
            Terminal.output(JSONDocument.render(Document(seed: seed, rounds: done), snakeCase: true))
        } else if !dryRun {
            Terminal.output("chaos --seed \(seed): \(done.filter { $0.passed == true }.count) of \(done.count) round(s) passed")
        }
        if done.contains(where: { $0.passed == false }) { throw ExitCode(Failure.checkFailed) }
    }
}
