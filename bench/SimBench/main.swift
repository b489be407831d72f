// Simulator benchmark (no servers): runs of `residency simulate --random` on a topology,
// simulated events per second, and the simulated RTO of zone power losses. Baseline in the
// same run: the engine's floor (the same event queue and RNG, deciding nothing).
// Usage: residency-sim-bench [TOPOLOGY_DIR] [RUNS] [SECONDS_PER_RUN]
import BenchSupport
import Foundation
import ResidencyConfig
import ResidencyCore
import ResidencySim

let arguments = CommandLine.arguments
let directory = arguments.count > 1 ? arguments[1] : "regions"
let runs = arguments.count > 2 ? Int(arguments[2]) ?? 20 : 20
let seconds = arguments.count > 3 ? Int(arguments[3]) ?? 600 : 600
let topology = try TopologyLoader.load(directory: directory)
var settings = Simulation.Settings()
settings.duration = .seconds(seconds)
settings.faults = seconds / 40

let clock = ContinuousClock()
var events = 0
var failed: [UInt64] = []
var powerLossRTO: [Double] = []
var rates: [Double] = []
for seed in UInt64(1)...UInt64(runs) {
    var result: Simulation.Result?
    let elapsed = clock.measure { result = Simulation(topology: topology, seed: seed, settings: settings).run() }
    let run = result!
    events += run.events
    rates.append(Double(run.events) / (Double(elapsed.components.attoseconds) / 1e18 + Double(elapsed.components.seconds)))
    if !run.passed { failed.append(seed) }
    for recovery in run.recoveries where run.faults[recovery.fault - 1].kind == .powerLoss {
        if let rto = recovery.rtoMilliseconds { powerLossRTO.append(Double(rto)) }
    }
}
var floor = 0
let floorElapsed = clock.measure { floor = Simulation.engineFloor(events: events, seed: 1) }
let floorRate = Double(events) / (Double(floorElapsed.components.attoseconds) / 1e18 + Double(floorElapsed.components.seconds))
print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores; topology \(directory): \(topology.shards.count) shards, \(topology.nodes.count) nodes")
print(String(format: "%d runs x %d simulated s (%d faults each): %d events, median %.0f events/s per run, %d failed%@",
             runs, seconds, settings.faults, events, median(rates), failed.count, failed.isEmpty ? "" : " (seeds \(failed))"))
print(String(format: "baseline, same run: engine floor (event queue + RNG only): %.0f events/s (checksum %d); ratio %.2f",
             floorRate, floor % 1000, median(rates) / floorRate))
if !powerLossRTO.isEmpty {
    print(String(format: "simulated RTO of zone power losses: median %.0f ms, p99 %.0f ms, max %.0f ms (%d shards hit)",
                 median(powerLossRTO), percentile(powerLossRTO, 99), powerLossRTO.max()!, powerLossRTO.count))
}
