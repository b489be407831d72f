import ArgumentParser
import Foundation
import ResidencyConfig
import ResidencyCore
import ResidencyReport
import ResidencySim

struct SimulateSLACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sla",
        abstract: "Forecast monthly SLA compliance: many simulated months of zone and coordinator failures, every decision by the real coordinator.",
        discussion: """
            Each run simulates MONTHS calendar months of the topology: every zone fails (all its \\
            nodes lose power) after an exponentially distributed time of mean --zone-mtbf-days and \\
            is repaired after one of mean --zone-mttr-minutes; the leading coordinator crashes \\
            every --coordinator-mtbf-days on average (a successor takes over when its lease \\
            expires); --moves-per-month moves tenants between regions meanwhile (each decided by \
            the real move driver, its rows and routing checked). Two zones of a region can be down at once: then the shards of that region \\
            wait for a repair (rule 2 refuses to promote without a proven candidate). The clock \\
            jumps over the quiet time between failures; around each one every probe, decision \\
            and effect is simulated. Each shard's outages become downtime minutes (a minute is \\
            downtime when more than 5 % of it was unavailable, as in `report sla`), per calendar \\
            month, starting 2027-01.

            Printed: the distribution of a shard's monthly uptime (p50, p1, worst: every tenant \\
            and product on the shard sees it), and per tier of regions/ the share of months below \\
            its target ("how likely is a month below our target?") and the expected service \\
            credit. --html writes the same with an SVG histogram. The same options give the same \\
            output. Exit 1 when a run broke a safety rule.

            --calibrate-from DIR reads the drill results kept in DIR (.residency/drills/ after \\
            `residency drill`), takes the median RTO of their power losses, and scales the \\
            simulated step durations so that the simulated median matches it.

            Examples:
              residency simulate sla --months 12 --runs 1000
              residency simulate sla --zone-mtbf-days 30 --zone-mttr-minutes 240 --html sla.html
              residency simulate sla --calibrate-from .residency/drills
            """)

    @Option(help: "Calendar months per run.")
    var months = 12
    @Option(help: "Runs, with seeds SEED, SEED+1, ...")
    var runs = 1_000
    @Option(help: "The first seed.")
    var seed: UInt64 = 1
    @Option(name: .customLong("zone-mtbf-days"), help: "Mean time between failures of one zone, in days.")
    var zoneMTBFDays = 90.0
    @Option(name: .customLong("zone-mttr-minutes"), help: "Mean time to repair a failed zone, in minutes.")
    var zoneMTTRMinutes = 60.0
    @Option(name: .customLong("coordinator-mtbf-days"), help: "Mean time between crashes of the leading coordinator, in days (0: never).")
    var coordinatorMTBFDays = 30.0
    @Option(help: "Residency moves per month (between regions a realm allows; each decided by the real move driver while the faults come).")
    var movesPerMonth = 0.0
    @Option(help: ArgumentHelp("Calibrate step durations from the drill results in DIR.", valueName: "dir"))
    var calibrateFrom: String?
    @Option(help: "Runs side by side (default: one per core).")
    var jobs = SimulateRunCommand.cores
    @Option(help: ArgumentHelp("Also write an HTML report with an SVG histogram to FILE.", valueName: "file"))
    var html: String?
    @OptionGroup var topology: TopologyOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard (1...120).contains(months) else { throw ValidationError("--months must be from 1 to 120, not \(months)") }
        guard (1...1_000_000).contains(runs) else { throw ValidationError("--runs must be from 1 to 1000000, not \(runs)") }
        guard zoneMTBFDays.isFinite, zoneMTBFDays >= 0.01, zoneMTBFDays <= 100_000 else {
            throw ValidationError("--zone-mtbf-days must be from 0.01 to 100000, not \(zoneMTBFDays)")
        }
        guard zoneMTTRMinutes.isFinite, zoneMTTRMinutes >= 0.1, zoneMTTRMinutes <= 100_000 else {
            throw ValidationError("--zone-mttr-minutes must be from 0.1 to 100000, not \(zoneMTTRMinutes)")
        }
        guard coordinatorMTBFDays.isFinite, coordinatorMTBFDays == 0 || (0.01...100_000).contains(coordinatorMTBFDays) else {
            throw ValidationError("--coordinator-mtbf-days must be 0 or from 0.01 to 100000, not \(coordinatorMTBFDays)")
        }
        guard (1...256).contains(jobs) else { throw ValidationError("--jobs must be from 1 to 256, not \(jobs)") }
        guard movesPerMonth.isFinite, (0...1_000).contains(movesPerMonth) else {
            throw ValidationError("--moves-per-month must be from 0 to 1000, not \(movesPerMonth)")
        }
        if let html, URL(fileURLWithPath: html).pathExtension != "html" { throw ValidationError("--html must end in .html: '\(html)'") }
    }

    func run() throws {
        let loaded = try TopologyLoader.load(directory: topology.topology)
        guard !loaded.shards.isEmpty else { throw Failure(message: "\(topology.topology) has no shard to simulate", exitCode: Failure.invalidInput) }
        var settings = SLASimulation.Settings()
        settings.months = months
        settings.runs = runs
        settings.firstSeed = seed
        settings.zoneMTBFHours = zoneMTBFDays * 24
        settings.zoneMTTRMinutes = zoneMTTRMinutes
        settings.coordinatorMTBFHours = coordinatorMTBFDays * 24
        settings.jobs = jobs
        settings.movesPerMonth = movesPerMonth
        let progress = Terminal.progress()
        var calibration: SLASimulation.Calibration?
        if let calibrateFrom {
            let measured = try Self.drillPowerLossRTOs(in: calibrateFrom)
            guard !measured.isEmpty else {
                throw Failure(message: "\(calibrateFrom) holds no drill result with a power loss and a measured RTO (run `residency drill` first)", exitCode: Failure.invalidInput)
            }
            let target = Double(measured.sorted()[(measured.count - 1) / 2])
            guard let (scale, median) = SLASimulation.calibratedEffectScale(topology: loaded, targetMedianMilliseconds: target) else {
                throw Failure(message: "cannot calibrate: the simulation measured no RTO on \(topology.topology)", exitCode: Failure.checkFailed)
            }
            settings.effectScale = scale
            calibration = SLASimulation.Calibration(realMedianMilliseconds: target, recoveries: measured.count, simulatedMedianMilliseconds: median)
        }
        let total = runs
        var outcome = SLASimulation(topology: loaded, settings: settings).runAll { done in
            if done % max(1, total / 10) == 0 || done == total { progress("\(done)/\(total) runs") }
        }
        outcome.calibration = calibration
        if let html {
            do {
                try SLAForecastReport.html(outcome, topologyDirectory: topology.topology).write(toFile: html, atomically: true, encoding: .utf8)
            } catch {
                throw Failure(message: "cannot write \(html): \(error.localizedDescription)", exitCode: Failure.unavailable)
            }
        }
        Terminal.output(output.json ? JSONDocument.render(outcome, snakeCase: true) : SLAForecastReport.text(outcome, topologyDirectory: topology.topology))
        if !outcome.failedSeeds.isEmpty { throw ExitCode(Failure.checkFailed) }
    }

    /// The RTOs (ms) of every shard recovery of the drill results in `directory` whose faults include a power loss.
    static func drillPowerLossRTOs(in directory: String) throws -> [Int] {
        let files: [String]
        do {
            files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".json") }.sorted()
        } catch {
            throw Failure(message: "cannot read --calibrate-from \(directory): \(error.localizedDescription)", exitCode: Failure.invalidInput)
        }
        var rtos: [Int] = []
        for file in files {
            guard let data = FileManager.default.contents(atPath: directory + "/" + file),
                  let document = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let faults = document["faults"] as? [[String: Any]],
                  faults.contains(where: { $0["action"] as? String == Scenario.Action.powerLoss.rawValue }),
                  let recovery = document["recovery"] as? [[String: Any]]
            else { continue }
            rtos += recovery.compactMap { ($0["rto_ms"] as? NSNumber)?.intValue }
        }
        return rtos
    }
}
