// Core benchmark (no servers): how long Core's coordinator driver takes to decide the
// failovers of a zone holding N primaries (the step that starts every shard's failover),
// and to take in one probe of every node at once. Baseline in the same run: one primary.
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

/// Milliseconds of (1) the step that decides: every probe already in (taken in by earlier
/// steps, as the probes arrive every 200 ms), the zone's primaries now unreachable for
/// `failoverAfter`, one step starts every failover; (2) taking in one probe of every node
/// in a single step (30,000 at 10,000 primaries, far more than one 20 ms step gets).
func decide(_ topology: Topology) -> (decide: Double, intake: Double, started: Int) {
    let snapshot = ControlSnapshot(
        shards: topology.shards.map { .init(shard: $0.id, epoch: 1, primary: $0.nodes[0], synchronousSet: Array($0.nodes.dropFirst())) },
        needsRewind: [], openOperations: [], heldZones: [])
    var driver = CoordinatorDriver(topology: topology)
    _ = driver.step(now: Instant(.zero), inputs: .init(lease: .acquired(token: 1, snapshot: snapshot)))
    let standby = NodeProbe.reachable(NodeReport(inRecovery: true, receivedLSN: LSN(0x500)))
    let probes = topology.nodes.map { CoordinatorDriver.Probe(node: $0, probe: $0.zone == "bench-a" ? .unreachable : standby, at: Instant(.milliseconds(900))) }
    let clock = ContinuousClock()
    let intake = clock.measure { _ = driver.step(now: Instant(.milliseconds(900)), inputs: .init(probes: probes)) }
    var out = CoordinatorDriver.Outputs()
    let decided = clock.measure { out = driver.step(now: Instant(.milliseconds(1_000)), inputs: .init()) }
    return (milliseconds(decided), milliseconds(intake), out.records.filter { $0.kind == "failover.started" }.count)
}

func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
}

let one = topology(shards: 1)
let many = topology(shards: primaries)
var oneTimes: [Double] = []
var manyTimes: [Double] = []
var intakeTimes: [Double] = []
for _ in 0..<repetitions {
    let small = decide(one)
    precondition(small.started == 1, "the baseline started \(small.started) failovers")
    oneTimes.append(small.decide)
    let large = decide(many)
    precondition(large.started == primaries, "started \(large.started) of \(primaries) failovers")
    manyTimes.append(large.decide)
    intakeTimes.append(large.intake)
}
print(String(format: "deciding the failovers of a zone holding %d primaries (one step): median %.1f ms, max %.1f ms (%d repetitions)",
             primaries, median(manyTimes), manyTimes.max()!, repetitions))
print(String(format: "baseline, same run: one primary: median %.3f ms; per primary at %d: %.4f ms (ratio %.0f)",
             median(oneTimes), primaries, median(manyTimes) / Double(primaries), median(manyTimes) / median(oneTimes)))
print(String(format: "taking in %d probes in one step (every node at once): median %.1f ms", primaries * 3, median(intakeTimes)))
