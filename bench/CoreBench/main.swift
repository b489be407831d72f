// Core benchmark (no servers): how long Core's coordinator driver takes to decide the
// failovers of a zone holding N primaries: the one step that receives the probes showing
// the zone down and starts every shard's failover. Baseline in the same run: one primary.
// Usage: residency-core-bench [PRIMARIES e.g. 10000] [REPETITIONS]
import BenchSupport
import Foundation
import ResidencyCore

let arguments = CommandLine.arguments
let primaries = arguments.count > 1 ? Int(arguments[1]) ?? 10_000 : 10_000
let repetitions = arguments.count > 2 ? Int(arguments[2]) ?? 20 : 20

func topology(shards: Int) -> Topology {
    let zones: [ZoneID] = ["bench-a", "bench-b", "bench-c"]
    let list = (1...shards).map { Shard(id: ShardID("bench-\($0)"), region: "bench", zones: zones) }
    return Topology(
        realms: [Realm(id: "bench", regions: ["bench"])],
        regions: [Region(id: "bench", zones: zones, shards: list, ports: PortRange(first: 1_024, last: 1_024 + 3 * shards))],
        apps: [], failover: FailoverSettings(), serviceLevels: ServiceLevels(tiers: []), controlPort: 1_023)
}

/// Milliseconds for the deciding step, and how many failovers it started.
func decide(_ topology: Topology) -> (ms: Double, started: Int) {
    let snapshot = ControlSnapshot(
        shards: topology.shards.map { .init(shard: $0.id, epoch: 1, primary: $0.nodes[0], synchronousSet: Array($0.nodes.dropFirst())) },
        needsRewind: [], openOperations: [], heldZones: [])
    var driver = CoordinatorDriver(topology: topology)
    _ = driver.step(now: Instant(.zero), inputs: .init(lease: .acquired(token: 1, snapshot: snapshot)))
    let standby = NodeProbe.reachable(NodeReport(inRecovery: true, receivedLSN: LSN(0x500)))
    func probes(_ ms: Int) -> [CoordinatorDriver.Probe] {
        topology.nodes.map { .init(node: $0, probe: $0.zone == "bench-a" ? .unreachable : standby, at: Instant(.milliseconds(ms))) }
    }
    _ = driver.step(now: Instant(.milliseconds(100)), inputs: .init(probes: probes(100)))
    let input = CoordinatorDriver.Inputs(probes: probes(1_100))
    let clock = ContinuousClock()
    var out = CoordinatorDriver.Outputs()
    let elapsed = clock.measure { out = driver.step(now: Instant(.milliseconds(1_100)), inputs: input) }
    return (Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000,
            out.records.filter { $0.kind == "failover.started" }.count)
}


let one = topology(shards: 1)
let many = topology(shards: primaries)
var oneTimes: [Double] = []
var manyTimes: [Double] = []
for _ in 0..<repetitions {
    let small = decide(one)
    precondition(small.started == 1, "the baseline started \(small.started) failovers")
    oneTimes.append(small.ms)
    let large = decide(many)
    precondition(large.started == primaries, "started \(large.started) of \(primaries) failovers")
    manyTimes.append(large.ms)
}
print(String(format: "deciding the failovers of a zone holding %d primaries (%d probes in the step): median %.1f ms, max %.1f ms (%d repetitions)",
             primaries, primaries * 3, median(manyTimes), manyTimes.max()!, repetitions))
print(String(format: "baseline, same run: one primary: median %.3f ms; per primary at %d: %.4f ms", median(oneTimes), primaries, median(manyTimes) / Double(primaries)))
