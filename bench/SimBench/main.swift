// Simulator benchmark (no servers), release build. Prints:
// 1. `simulate --random` runs on a topology: simulated events per second, against a
//    same-run baseline, the engine's floor (the same event queue and RNG, deciding nothing);
// 2. 12 simulated months of a 1,000-shard topology (3 zones per shard, default failure
//    rates of `simulate sla`): wall time, events, probe rounds, clock jumps;
// 3. `simulate sla --months 12 --runs 1000` on the topology, both cores;
// 4. one zone power loss across those 1,000 shards: every shard's simulated RTO against the
//    RTO of a single shard in the same simulation settings;
// 5. the simulated RTO of a zone power loss on the topology, to compare with the real
//    drills' median (bench/simulate.sh passes it from bench/failover.sh in the same run).
// Usage: residency-sim-bench [TOPOLOGY_DIR] [RUNS] [SECONDS_PER_RUN] [REAL_RTO_MEDIAN_MS]
// Environment: SIM_BENCH_PARTS=2,4 runs only those parts; SIM_BENCH_MONTHS=N sets part 2's months.
import BenchSupport
import Foundation
import ResidencyConfig
import ResidencyCore
import ResidencySim

let arguments = CommandLine.arguments
let directory = arguments.count > 1 ? arguments[1] : "regions"
let runs = arguments.count > 2 ? Int(arguments[2]) ?? 20 : 20
let seconds = arguments.count > 3 ? Int(arguments[3]) ?? 600 : 600
let realMedian = arguments.count > 4 ? Double(arguments[4]) : nil
/// SIM_BENCH_PARTS=2,3 runs only those parts (profiling).
let parts = Set((ProcessInfo.processInfo.environment["SIM_BENCH_PARTS"] ?? "1,2,3,4,5").split(separator: ",").compactMap { Int($0) })
let topology = try TopologyLoader.load(directory: directory)
let clock = ContinuousClock()
func seconds(_ duration: Duration) -> Double { Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18 }

say("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores; topology \(directory): \(topology.shards.count) shards, \(topology.nodes.count) nodes")

/// `shards` shards spread over the topology's regions, each over its region's zones.
func wide(shards: Int) -> Topology {
    let regions = topology.regions.map { region -> Region in
        let count = shards / topology.regions.count + (region.id == topology.regions[0].id ? shards % topology.regions.count : 0)
        let list = (1...count).map { Shard(id: ShardID("\(region.id.rawValue)-\($0)"), region: region.id, zones: region.zones, primaryZone: region.zones[$0 % region.zones.count]) }
        return Region(id: region.id, zones: region.zones, shards: list, ports: PortRange(first: 1, last: 1))
    }
    return Topology(realms: topology.realms, regions: regions, apps: topology.apps, failover: topology.failover,
                    serviceLevels: topology.serviceLevels, controlPort: topology.controlPort)
}
let thousand = wide(shards: 1_000)

if parts.contains(1) {
    // 1. Random runs.
    var settings = Simulation.Settings()
    settings.duration = .seconds(seconds)
    settings.faults = seconds / 40
    var events = 0
    var failed: [UInt64] = []
    var rates: [Double] = []
    for seed in UInt64(1)...UInt64(runs) {
        var result: Simulation.Result?
        let elapsed = clock.measure { result = Simulation(topology: topology, seed: seed, settings: settings).run() }
        events += result!.events
        rates.append(Double(result!.events) / seconds(elapsed))
        if !result!.passed { failed.append(seed) }
    }
    var floor = 0
    let floorElapsed = clock.measure { floor = Simulation.engineFloor(events: events, seed: 1) }
    let floorRate = Double(events) / seconds(floorElapsed)
    say(String(format: "random: %d runs x %d simulated s (%d faults each): %d events, median %.0f events/s per run (one core), %d failed%@",
               runs, seconds, settings.faults, events, median(rates), failed.count, failed.isEmpty ? "" : " (seeds \(failed))"))
    say(String(format: "baseline, same run: engine floor (event queue + RNG only): %.0f events/s (checksum %d); ratio %.3f",
               floorRate, floor % 1000, median(rates) / floorRate))
}

// 2. A year of 1,000 shards.
if parts.contains(2) {
    var sla = SLASimulation.Settings()
    sla.months = Int(ProcessInfo.processInfo.environment["SIM_BENCH_MONTHS"] ?? "") ?? 12
    sla.runs = 1
    sla.jobs = 1
    var year: SLASimulation.Outcome?
    let yearElapsed = clock.measure { year = SLASimulation(topology: thousand, settings: sla).runAll() }
    say(String(format: "sla: %d simulated months of %d shards (%d nodes), one core: %.2f s wall; %d zone failures, %d coordinator crashes, %d promotions, %d events (%.0f events/s), %d clock jumps, %d safety violations; %.0f shard-months per second",
               sla.months, thousand.shards.count, thousand.nodes.count, seconds(yearElapsed), year!.zoneFaults, year!.coordinatorCrashes, year!.promotions,
               year!.events, Double(year!.events) / seconds(yearElapsed), year!.jumps, year!.failedSeeds.count, Double(sla.months * 1_000) / seconds(yearElapsed)))
}

// 3. simulate sla --months 12 --runs 1000 on the topology itself.
if parts.contains(3) {
    var sla = SLASimulation.Settings()
    sla.months = 12
    sla.runs = 1_000
    sla.jobs = ProcessInfo.processInfo.activeProcessorCount
    var many: SLASimulation.Outcome?
    let manyElapsed = clock.measure { many = SLASimulation(topology: topology, settings: sla).runAll() }
    say(String(format: "sla: simulate sla --months 12 --runs 1000 on %@ (%d jobs): %.2f s wall, %d events, P(month below %@) %.3f %%",
               directory, sla.jobs, seconds(manyElapsed), many!.events, many!.forecast.tiers.last?.tier.rawValue ?? "-", 100 * (many!.forecast.tiers.last?.probabilityBelowTarget ?? 0)))
}

// 4. A zone loss across 1,000 shards against one shard.
if parts.contains(4) {
    func zoneLossRTOs(_ topology: Topology, seeds: ClosedRange<UInt64>) -> [Double] {
        var settings = Simulation.Settings()
        settings.duration = .seconds(30)
        let zone = topology.shards[0].primaryZone
        settings.schedule = [.init(kind: .powerLoss, zone: zone, atMilliseconds: 5_000, forMilliseconds: 10_000)]
        return seeds.flatMap { Simulation(topology: topology, seed: $0, settings: settings).run().recoveries.compactMap(\.rtoMilliseconds).map(Double.init) }
    }
    let single = zoneLossRTOs(wide(shards: topology.regions.count), seeds: 1...30)
    var wideRTOs: [Double] = []
    let wideElapsed = clock.measure { wideRTOs = zoneLossRTOs(thousand, seeds: 1...3) }
    say(String(format: "zone loss across %d shards (3 runs, %d primaries hit, %.1f s wall, effect_concurrency %d): RTO median %.0f ms, p99 %.0f ms, max %.0f ms; one shard (30 runs): median %.0f ms, max %.0f ms",
               thousand.shards.count, wideRTOs.count, seconds(wideElapsed), thousand.failover.effectConcurrency, median(wideRTOs), percentile(wideRTOs, 0.99),
               wideRTOs.max() ?? .nan, median(single), single.max() ?? .nan))
    // The same with as many shard lanes as the zone holds primaries (`failover.effect_concurrency`):
    // a step is mostly a wait on PostgreSQL, so lanes cost little.
    var lanes = thousand.failover
    lanes.effectConcurrency = 256
    let wider = Topology(realms: thousand.realms, regions: thousand.regions, apps: thousand.apps, failover: lanes,
                         serviceLevels: thousand.serviceLevels, controlPort: thousand.controlPort)
    let widerRTOs = zoneLossRTOs(wider, seeds: 1...3)
    say(String(format: "the same with effect_concurrency %d: RTO median %.0f ms, p99 %.0f ms, max %.0f ms",
               wider.failover.effectConcurrency, median(widerRTOs), percentile(widerRTOs, 0.99), widerRTOs.max() ?? .nan))
}

// 5. Simulated against real RTO.
if parts.contains(5) {
    let simulated = SLASimulation.medianPowerLossRTO(topology: topology, scale: 1, seeds: 30) ?? .nan
    if let realMedian {
        say(String(format: "power-loss RTO: simulated median %.0f ms, real drills (bench/failover.sh, same run) median %.0f ms: simulated/real %.2f",
                   simulated, realMedian, simulated / realMedian))
        if let (scale, calibrated) = SLASimulation.calibratedEffectScale(topology: topology, targetMedianMilliseconds: realMedian) {
            say(String(format: "calibrated (simulate sla --calibrate-from): step durations x%.2f give a simulated median of %.0f ms (%.2f of real)", scale, calibrated, calibrated / realMedian))
        }
    } else {
        say(String(format: "power-loss RTO: simulated median %.0f ms (no real figure given)", simulated))
    }
}
