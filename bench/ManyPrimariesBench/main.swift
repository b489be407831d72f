// Many-primaries benchmark: a zone holding N primaries of one region loses power (every
// server process SIGKILLed) under one writer per shard; prints every hit shard's RTO and
// the worst per round, for N in COUNTS and coordinator effect concurrency in BOUNDS.
// Usage: residency-many-primaries-bench STATE_DIR RESIDENCY_BINARY [ROUNDS] [COUNTS e.g. 1,3,6] [BOUNDS e.g. 8,1]
// (bound 0: the coordinator binary's default, started without --effect-concurrency.)
import BenchSupport
import Foundation
import ResidencyChaos
import ResidencyCore
import ResidencyPostgres
import ResidencyRuntime

let arguments = CommandLine.arguments
guard arguments.count >= 3 else {
    FileHandle.standardError.write(Data("usage: residency-many-primaries-bench STATE_DIR RESIDENCY_BINARY [ROUNDS] [COUNTS] [BOUNDS]\n".utf8))
    exit(64)
}
let state = StateDirectory(option: arguments[1])
let binary = arguments[2]
let rounds = arguments.count > 3 ? Int(arguments[3]) ?? 10 : 10
let counts = (arguments.count > 4 ? arguments[4] : "1,3,6").split(separator: ",").compactMap { Int($0) }
let bounds = (arguments.count > 5 ? arguments[5] : "8,1").split(separator: ",").compactMap { Int($0) }

func format(_ value: Double) -> String { String(format: "%.3f", value) }

do {
    let layout = try state.requireLayout()
    let control = try ControlStore(layout: layout)
    let topology = try control.requireTopology()
    let data = DataNodes(layout: layout)
    let faults = try ZoneFaults(layout: layout, control: control)
    guard let region = topology.regions.max(by: { $0.shards.count < $1.shards.count }), region.shards.count >= (counts.max() ?? 1) else {
        log("no region with \(counts.max() ?? 1) shards")
        exit(2)
    }
    let lostZone = region.zones[0]
    let shards = region.shards.map(\.id).sorted()
    var tenantOf: [ShardID: TenantID] = [:]
    for tenant in try control.tenants() where tenantOf[tenant.shard] == nil { tenantOf[tenant.shard] = tenant.id }
    guard shards.allSatisfy({ tenantOf[$0] != nil }) else {
        log("every shard of \(region.id) needs a tenant")
        exit(2)
    }
    func healthy() -> Bool {
        guard let status = try? StatusCollector(control: control, data: data).collect() else { return false }
        return status.isHealthy && ((try? control.openOperations().isEmpty) ?? false)
    }
    func record(_ id: ShardID) -> ControlStore.ShardRecord? { try? control.shards().first { $0.shard == id } }
    func switchover(_ shard: ShardID, to zone: ZoneID) throws {
        let id = try control.submitRequest(kind: "switchover", shard: shard, zone: zone)
        guard waitUntil(60, { (try? control.request(id))??.state == "done" || (try? control.request(id))??.state == "refused" }),
              (try control.request(id))?.state == "done"
        else { throw RuntimeError(.unavailable, "switchover of \(shard) to \(zone): \(String(describing: try control.request(id)))") }
    }
    /// Exactly the first `count` shards have their primary in the lost zone.
    func arrange(_ count: Int) throws {
        for (index, shard) in shards.enumerated() {
            guard waitUntil(90, healthy) else { throw RuntimeError(.unavailable, "not healthy while arranging") }
            guard let current = record(shard) else { continue }
            let inLost = current.primary.zone == lostZone
            if index < count, !inLost { try switchover(shard, to: lostZone) }
            if index >= count, inLost { try switchover(shard, to: region.zones[1 + index % (region.zones.count - 1)]) }
        }
    }
    func missing(_ history: [WriteAttempt], shard: ShardID) throws -> Int {
        let acknowledged = history.filter { $0.outcome == .ok }.map(\.id)
        guard !acknowledged.isEmpty, let primary = record(shard)?.primary,
              let port = try control.nodes().first(where: { $0.node == primary })?.port else { return 0 }
        let found = try data.connect(port: port)
            .query("SELECT count(*) FROM jira.issues WHERE id = ANY($1::uuid[])", ["{" + acknowledged.joined(separator: ",") + "}"]).scalar
        return acknowledged.count - (Int(found ?? "0") ?? 0)
    }

    let coordinator = CoordinatorProcess(state: state)
    var lostTotal = 0
    for bound in bounds {
        coordinator.stop()
        // 0: the binary's own default, without the flag (an older build has none).
        _ = try coordinator.start(executable: binary, arguments: bound == 0 ? [] : ["--effect-concurrency", String(bound)])
        for count in counts {
            var worst: [Double] = []
            var all: [Double] = []
            for round in 1...rounds {
                try arrange(count)
                guard waitUntil(90, healthy) else { throw RuntimeError(.unavailable, "not healthy before a round") }
                let hit = shards.prefix(count)
                let before = Dictionary(uniqueKeysWithValues: hit.map { ($0, record($0)!.primary) })
                var writers: [ShardID: TenantWriter] = [:]
                for shard in shards {
                    writers[shard] = TenantWriter(connectionString: try TenantConnection.connectionString(for: tenantOf[shard]!, control: control, layout: layout),
                                                  tenant: tenantOf[shard]!)
                }
                writers.values.forEach { $0.start() }
                usleep(1_000_000)
                _ = try faults.stop(lostZone, mode: .powerLoss)
                let killedAt = ContinuousClock.now
                _ = waitUntil(30) { hit.allSatisfy { record($0)?.primary != before[$0] } && ((try? control.openOperations().isEmpty) ?? false) }
                let after = Dictionary(uniqueKeysWithValues: hit.map { ($0, record($0)?.primary.description ?? "?") })
                _ = waitUntil(10) {
                    hit.allSatisfy { shard in writers[shard]!.history.contains { $0.outcome == .ok && $0.acknowledgedBy == after[shard] && $0.invokedAt > killedAt } }
                }
                usleep(300_000)
                var histories: [ShardID: [WriteAttempt]] = [:]
                for (shard, writer) in writers { histories[shard] = writer.stop() }
                var rtos: [Double] = []
                for shard in hit {
                    let first = histories[shard]!.first { $0.outcome == .ok && $0.acknowledgedBy == after[shard] && $0.invokedAt > killedAt }
                    rtos.append(first.map { ($0.completedAt - killedAt).inSeconds } ?? .infinity)
                }
                var lost = 0
                for (shard, history) in histories { lost += try missing(history, shard: shard) }
                lostTotal += lost
                worst.append(rtos.max() ?? .nan)
                all += rtos
                log("bound \(bound), \(count) primaries, round \(round): RTO " + rtos.map(format).joined(separator: " ") + " s; worst \(format(rtos.max() ?? .nan)) s; lost \(lost)")
                _ = try faults.start(lostZone)
            }
            let line = "effect concurrency \(bound), \(count) primaries in the lost zone: \(rounds) rounds, worst-shard RTO median \(format(median(worst))) s, "
                + "max \(format(worst.max() ?? .nan)) s; every shard's RTO median \(format(median(all))) s, max \(format(all.max() ?? .nan)) s"
            say(line)
        }
    }
    coordinator.stop()
    _ = try coordinator.start(executable: binary)
    say("acknowledged writes lost: \(lostTotal)")
} catch {
    log("many-primaries bench: \(error)")
    exit(2)
}
