import ArgumentParser
import Foundation
import ResidencyConfig
import ResidencyCore
import ResidencyReport
import ResidencySim

struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Deterministic simulation of the real coordinator: random fault timings, or months of failures for an SLA forecast.",
        discussion: """
            residency simulate --random --seed 7 --runs 100    random faults, every rule checked
            residency simulate simulations/zone-partition.yaml a drill's schedule, in the simulator
            residency simulate sla --months 12 --runs 1000     how likely is a month below target?
            """,
        subcommands: [SimulateRunCommand.self, SimulateSLACommand.self],
        defaultSubcommand: SimulateRunCommand.self)
}

struct SimulateRunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the real coordinator's decisions against simulated nodes under seeded random faults, and check every rule.",
        discussion: """
            A deterministic discrete-event simulation: simulated nodes (WAL, streaming, ANY 1 \
            synchronous commit, promotion, fencing, rejoin), clients writing to every shard, and \
            faults one after another: zone power loss (some with the leading coordinator dying \
            right after a journaled failover step), partition, freezes shorter and longer than \
            failover_after_ms, a single node's crash, a flapping zone, slow promotions, asymmetric \
            partitions (the coordinator cut off from a zone that clients still reach, and the \
            reverse), coordinator crash and lease loss (a successor restores from the journal \
            once the lease expires). Core's CoordinatorDriver makes every decision.

            Checked on every acknowledgement, promotion and probe round: no write acknowledged \
            while only one zone held it, none acknowledged by a primary after another was \
            promoted, no acknowledged write lost at a promotion, no promotion outside the region, \
            never two primaries able to acknowledge; every shard a fault hit acknowledges again \
            within its bound (failover_after_ms + 2 s, more when the coordinator dies in the \
            failover or promotions are slow); at the end every shard acknowledges writes again. \
            With --move each run also moves a tenant between two regions (Core's move driver \
            decides; checked: the tenant writable on exactly one shard, no acknowledged row lost \
            or duplicated, the move ends). The same seed gives byte-identical output.

            SCENARIO runs a drill file (simulations/*.yaml) in the simulator instead: its power \
            losses and partitions (until the next heal; `primary_of` is resolved when the fault \
            starts), crashed primaries, coordinator crashes and restarts, coordinator-crash-at, \
            and its move (decided by the real move driver; a fault waiting for a move phase \
            strikes when the move journals it; the move's rows and routing are checked, and how \
            it must end); the seed draws only the durations. A second move is not simulated \
            (exit 2). A .json SCENARIO is a schedule written by --save-failing.

            A failing run prints its seed, a shortened schedule that still breaks a rule (faults \
            dropped, then halved, while it still fails), and the command that replays it; with \
            --save-failing DIR the shortened schedule is written to DIR/sim-SEED.json (replay: \
            residency simulate DIR/sim-SEED.json --seed SEED) and as a drill for the real \
            processes to DIR/sim-SEED.yaml (residency drill DIR/sim-SEED.yaml; faults no drill \
            action expresses are listed in its header). Exit 1 when a run broke a rule.

            Examples:
              residency simulate --random --seed 7 --runs 100 --jobs 2
              residency simulate --random --runs 1000 --save-failing /tmp/failing
              residency simulate simulations/coordinator-crash-during-failover.yaml --runs 20
            """)

    @Argument(help: ArgumentHelp("A drill scenario (.yaml) or a saved schedule (.json) to simulate instead of random faults.", valueName: "scenario"))
    var scenario: String?
    @Flag(help: "Draw the faults at random from the seed.")
    var random = false
    @Option(help: "The first seed.")
    var seed: UInt64 = 1
    @Option(help: "Runs, with seeds SEED, SEED+1, ...")
    var runs: Int = 1
    @Option(help: "Faults per run.")
    var faults: Int = 3
    @Option(help: "Simulated seconds per run.")
    var seconds: Int = 120
    @Option(help: "Runs side by side (default: one per core).")
    var jobs: Int = SimulateRunCommand.cores
    @Flag(help: "With --random: each run also moves a tenant between two regions (Core's move driver), started at a drawn time.")
    var move = false
    @Option(help: ArgumentHelp("Write each failing run's shortened schedule to DIR (as .json to replay here, as .yaml to drill).", valueName: "dir"))
    var saveFailing: String?
    @OptionGroup var topology: TopologyOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard random != (scenario != nil) else {
            throw ValidationError(random ? "pass either --random or a SCENARIO file, not both" : "pass --random, or a SCENARIO file (simulations/*.yaml)")
        }
        guard (1...100_000).contains(runs) else { throw ValidationError("--runs must be from 1 to 100000, not \(runs)") }
        guard (0...50).contains(faults) else { throw ValidationError("--faults must be from 0 to 50, not \(faults)") }
        guard (10...86_400).contains(seconds) else { throw ValidationError("--seconds must be from 10 to 86400, not \(seconds)") }
        guard (1...256).contains(jobs) else { throw ValidationError("--jobs must be from 1 to 256, not \(jobs)") }
    }

    static let brokenRuleVariable = "RESIDENCY_SIMULATE_BROKEN_RULE"

    static var cores: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }

    private struct Shortened: Encodable {
        let seed: UInt64
        let faults: [Simulation.Fault]
        let replay: String
        let drill: String?
        let notInTheDrill: [String]
    }

    private struct Document: Encodable {
        let version = JSONDocument.version
        let runs: [Simulation.Result]
        let failed: [UInt64]
        let shortened: [Shortened]
    }

    /// A schedule written by --save-failing: what `simulate FILE.json --seed SEED` replays.
    struct SavedSchedule: Codable {
        var version = 1
        let topology: String
        let seed: UInt64
        let durationMilliseconds: Int
        let faults: [Simulation.Fault]
    }

    func run() throws {
        var settings = Simulation.Settings()
        settings.faults = faults
        settings.duration = .seconds(seconds)
        var topologyPath = topology.topology
        var replayBase = "residency simulate --random --faults \(faults) --seconds \(seconds)\(move ? " --move" : "") --topology \(topologyPath)"
        if let scenario {
            (topologyPath, settings) = try Self.settings(for: scenario)
            replayBase = "residency simulate \(scenario)"
        }
        let loaded = try TopologyLoader.load(directory: topologyPath)
        settings.randomMove = move && scenario == nil
        // Test-only: carry one rule out wrongly, to prove a failing run is reported, shortened and saved.
        settings.broken = ProcessInfo.processInfo.environment[Self.brokenRuleVariable].flatMap(Simulation.BrokenRule.init(rawValue:))
        let seeds = (0..<runs).map { seed &+ UInt64($0) }
        let results = Simulation.runAll(topology: loaded, seeds: seeds, settings: settings, jobs: jobs)
        let failed = results.filter { !$0.passed }.map(\.seed)
        var shortened: [Shortened] = []
        for result in results {
            var extra: [String] = []
            if !result.passed, let faults = Simulation.shrink(topology: loaded, seed: result.seed, settings: settings) {
                let kept = try save(faults, seed: result.seed, settings: settings, topology: loaded, topologyPath: topologyPath)
                shortened.append(Shortened(seed: result.seed, faults: faults, replay: kept.replay ?? "\(replayBase) --seed \(result.seed)",
                                           drill: kept.drill, notInTheDrill: kept.skipped))
                extra.append("  shortened schedule (\(faults.count) of \(result.faults.count) fault(s) still break a rule):")
                extra += faults.map { "    " + Self.describe($0) }
                if let drill = kept.drill {
                    extra.append("  as a drill for the real processes: residency drill \(drill)"
                        + (kept.skipped.isEmpty ? "" : " (not in it: \(kept.skipped.joined(separator: "; ")))"))
                }
            }
            if !output.json {
                Terminal.output(Self.text(result, replay: shortened.last(where: { $0.seed == result.seed })?.replay ?? "\(replayBase) --seed \(result.seed)")
                    + (extra.isEmpty ? "" : "\n" + extra.joined(separator: "\n")))
            }
        }
        if output.json {
            Terminal.output(JSONDocument.render(Document(runs: results, failed: failed, shortened: shortened), snakeCase: true))
        } else if runs > 1 {
            Terminal.output("\(runs) runs, \(runs - failed.count) passed, \(failed.count) failed\(failed.isEmpty ? "" : ": seeds \(failed.map(String.init).joined(separator: " "))")")
        }
        if !failed.isEmpty { throw ExitCode(Failure.checkFailed) }
    }

    /// The topology and settings of a scenario run: a drill file's (its topology, duration,
    /// shards it expects to stay down), or a saved schedule's.
    static func settings(for file: String) throws -> (topology: String, settings: Simulation.Settings) {
        var settings = Simulation.Settings()
        if file.hasSuffix(".json") {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw Failure(message: "cannot read \(file)", exitCode: Failure.invalidInput)
            }
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            let saved: SavedSchedule
            do {
                saved = try decoder.decode(SavedSchedule.self, from: data)
            } catch {
                throw Failure(message: "\(file) is not a schedule written by --save-failing: \(error)", exitCode: Failure.invalidInput)
            }
            settings.duration = .milliseconds(saved.durationMilliseconds)
            settings.schedule = saved.faults
            return (saved.topology, settings)
        }
        let loaded = try ScenarioLoader.load(file: file)
        let topology = DrillCommand.topologyPath(of: loaded.scenario, file: file)
        let values = try TopologyLoader.load(directory: topology)
        try ScenarioLoader.check(loaded, against: values, file: file)
        do {
            return (topology, try ScenarioSchedule.settings(of: loaded.scenario, topology: values))
        } catch {
            throw Failure(message: "\(file): \(error)", exitCode: Failure.unavailable)
        }
    }

    /// Writes a shortened schedule under --save-failing: the .json replay and the .yaml drill.
    private func save(_ faults: [Simulation.Fault], seed: UInt64, settings: Simulation.Settings, topology: Topology,
                      topologyPath: String) throws -> (replay: String?, drill: String?, skipped: [String]) {
        guard let folder = saveFailing else { return (nil, nil, []) }
        let absolute = URL(fileURLWithPath: topologyPath).standardizedFileURL.path
        let duration = Int(settings.duration.inMilliseconds)
        let (drill, skipped) = ScenarioSchedule.scenario(
            name: "sim-\(seed)", summary: "a simulated schedule that broke a rule (seed \(seed)), for the real processes",
            faults: faults, durationMilliseconds: duration, topology: topology, topologyDirectory: absolute)
        let json = "\(folder)/sim-\(seed).json"
        let yaml = "\(folder)/sim-\(seed).yaml"
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try JSONDocument.render(SavedSchedule(topology: absolute, seed: seed, durationMilliseconds: duration, faults: faults), snakeCase: true)
                .write(toFile: json, atomically: true, encoding: .utf8)
            let header = "Written by `residency simulate --save-failing` (seed \(seed)); in the simulator: residency simulate \(json) --seed \(seed)"
                + (skipped.isEmpty ? "" : "\nNot expressible as drill actions, left out: " + skipped.joined(separator: "; "))
            try ScenarioWriter.yaml(drill, comment: header).write(toFile: yaml, atomically: true, encoding: .utf8)
        } catch {
            throw Failure(message: "cannot write to --save-failing \(folder): \(error.localizedDescription)", exitCode: Failure.unavailable)
        }
        return ("residency simulate \(json) --seed \(seed)", yaml, skipped)
    }

    static func describe(_ fault: Simulation.Fault) -> String {
        let what = fault.kind == .coordinatorCrash
            ? "the leading coordinator dies" + (fault.forMilliseconds > 0 ? " for \(fault.forMilliseconds) ms" : "")
            : "\(fault.kind.rawValue) of \(fault.zone)\(fault.primaryOf.map { " (the zone of \($0)'s primary)" } ?? "") for \(fault.forMilliseconds) ms"
                + (fault.coordinatorCrashAfter.map { ", the leading coordinator dies after journaling step \($0)" } ?? "")
        return "at \(fault.atMilliseconds) ms: \(what)"
    }

    static func text(_ result: Simulation.Result, replay: String) -> String {
        var lines = ["simulation seed \(result.seed): \(result.passed ? "PASSED" : "FAILED"), \(result.events) events, "
            + "\(result.acknowledged) writes acknowledged, \(result.unacknowledged) not, \(result.promotions) promotion(s), \(result.takeovers) coordinator takeover(s)"]
        for (index, fault) in result.faults.enumerated() {
            let recoveries = result.recoveries.filter { $0.fault == index + 1 }
                .map { "\($0.shard) \($0.rtoMilliseconds.map { "\($0) ms" } ?? "not recovered")" }
            lines.append("  fault \(index + 1) \(describe(fault))"
                + (fault.kind == .coordinatorCrash ? "" : recoveries.isEmpty ? "; hit no primary" : "; RTO " + recoveries.joined(separator: ", ")))
        }
        for move in result.moves {
            lines.append("  move: \(move.phases.joined(separator: " > ")); \(move.acknowledgedRows) row(s) acknowledged, \(move.rowsWhereRouted) on \(move.routedTo), where the tenant is routed"
                + (move.freezeMilliseconds.map { "; writes fenced \($0) ms" } ?? ""))
        }
        for violation in result.violations { lines.append("  VIOLATION \(violation)") }
        if !result.passed { lines.append("  replay: \(replay)") }
        return lines.joined(separator: "\n")
    }
}
