import ArgumentParser
import Foundation
import ResidencyConfig
import ResidencyCore
import ResidencyReport
import ResidencySim

struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run the real coordinator's decisions against simulated nodes under seeded random faults, and check every rule.",
        discussion: """
            A deterministic discrete-event simulation: simulated nodes (WAL, streaming, ANY 1 \\
            synchronous commit, promotion, fencing, rejoin), clients writing to every shard, zone \\
            power losses (some with the leading coordinator dying right after a journaled failover \
            step), partitions, freezes shorter than failover_after_ms and coordinator crashes (a \
            successor restores from the journal once the lease expires), one after another; \\
            Core's CoordinatorDriver makes every decision. Checked on every acknowledgement and \\
            promotion: no write acknowledged while only one node held it, none acknowledged by a \\
            primary after another was promoted, no acknowledged write lost, no promotion outside \\
            the region; at the end every shard acknowledges writes again. The same seed gives \\
            byte-identical output; a failing run prints the command that replays it. Exit 1 when a \\
            run broke a rule. Not built yet: scenarios, moves, coordinator crashes, sla.

            Example:
              residency simulate --random --seed 7 --runs 100
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
    @OptionGroup var topology: TopologyOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard random else { throw ValidationError("pass --random (simulating a scenario file is not built yet)") }
        guard (1...100_000).contains(runs) else { throw ValidationError("--runs must be from 1 to 100000, not \(runs)") }
        guard (0...50).contains(faults) else { throw ValidationError("--faults must be from 0 to 50, not \(faults)") }
        guard (10...86_400).contains(seconds) else { throw ValidationError("--seconds must be from 10 to 86400, not \(seconds)") }
    }

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
        var results: [Simulation.Result] = []
        for offset in 0..<runs {
            let seed = seed &+ UInt64(offset)
            let result = Simulation(topology: loaded, seed: seed, settings: settings).run()
            results.append(result)
            if !output.json { Terminal.output(Self.text(result, topologyDirectory: topology.topology, faults: faults, seconds: seconds)) }
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
