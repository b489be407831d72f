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
            never two primaries able to acknowledge; at the end every shard acknowledges writes \
            again. The same seed gives byte-identical output; a failing run prints the command \
            that replays it. Exit 1 when a run broke a rule. Not built yet: scenario files, \
            shrinking a failing schedule, moves.

            Example:
              residency simulate --random --seed 7 --runs 100 --jobs 2
            """)

    @Flag(help: "Draw the faults at random from the seed (the only mode built so far).")
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
    @OptionGroup var topology: TopologyOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard random else { throw ValidationError("pass --random (simulating a scenario file is not built yet)") }
        guard (1...100_000).contains(runs) else { throw ValidationError("--runs must be from 1 to 100000, not \(runs)") }
        guard (0...50).contains(faults) else { throw ValidationError("--faults must be from 0 to 50, not \(faults)") }
        guard (10...86_400).contains(seconds) else { throw ValidationError("--seconds must be from 10 to 86400, not \(seconds)") }
        guard (1...256).contains(jobs) else { throw ValidationError("--jobs must be from 1 to 256, not \(jobs)") }
    }

    static var cores: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }

    private struct Document: Encodable {
        let version = JSONDocument.version
        let runs: [Simulation.Result]
        let failed: [UInt64]
    }

    func run() throws {
        let loaded = try TopologyLoader.load(directory: topology.topology)
        var settings = Simulation.Settings()
        settings.faults = faults
        settings.duration = .seconds(seconds)
        let seeds = (0..<runs).map { seed &+ UInt64($0) }
        let results = Simulation.runAll(topology: loaded, seeds: seeds, settings: settings, jobs: jobs)
        if !output.json {
            for result in results { Terminal.output(Self.text(result, topologyDirectory: topology.topology, faults: faults, seconds: seconds)) }
        }
        let failed = results.filter { !$0.passed }.map(\.seed)
        if output.json {
            Terminal.output(JSONDocument.render(Document(runs: results, failed: failed), snakeCase: true))
        } else if runs > 1 {
            Terminal.output("\(runs) runs, \(runs - failed.count) passed, \(failed.count) failed\(failed.isEmpty ? "" : ": seeds \(failed.map(String.init).joined(separator: " "))")")
        }
        if !failed.isEmpty { throw ExitCode(Failure.checkFailed) }
    }

    static func text(_ result: Simulation.Result, topologyDirectory: String, faults: Int, seconds: Int) -> String {
        var lines = ["simulation seed \(result.seed): \(result.passed ? "PASSED" : "FAILED"), \(result.events) events, "
            + "\(result.acknowledged) writes acknowledged, \(result.unacknowledged) not, \(result.promotions) promotion(s), \(result.takeovers) coordinator takeover(s)"]
        for (index, fault) in result.faults.enumerated() {
            let recoveries = result.recoveries.filter { $0.fault == index + 1 }
                .map { "\($0.shard) \($0.rtoMilliseconds.map { "\($0) ms" } ?? "not recovered")" }
            let what = fault.kind == .coordinatorCrash
                ? "the leading coordinator dies"
                : "\(fault.kind.rawValue) of \(fault.zone) for \(fault.forMilliseconds) ms"
                    + (fault.coordinatorCrashAfter.map { ", the leading coordinator dies after journaling step \($0)" } ?? "")
            lines.append("  fault \(index + 1) at \(fault.atMilliseconds) ms: \(what)"
                + (fault.kind == .coordinatorCrash ? "" : recoveries.isEmpty ? "; hit no primary" : "; RTO " + recoveries.joined(separator: ", ")))
        }
        for violation in result.violations { lines.append("  VIOLATION \(violation)") }
        if !result.passed {
            lines.append("  replay: residency simulate --random --seed \(result.seed) --faults \(faults) --seconds \(seconds) --topology \(topologyDirectory)")
        }
        return lines.joined(separator: "\n")
    }
}
