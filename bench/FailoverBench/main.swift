// Failover benchmark: steady writes on every shard of a running local topology (with its
// coordinator), then zone failures of a primary's zone, repeated; prints RTO figures.
// Usage: residency-failover-bench STATE_DIR [POWER_LOSS_ROUNDS] [PARTITION_ROUNDS] [FREEZE_ROUNDS] [BASELINE_ROUNDS]
import BenchSupport
import Foundation
import ResidencyChaos
import ResidencyCore
import ResidencyPostgres
import ResidencyRuntime
#if canImport(Glibc)
import Glibc
#endif

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    FileHandle.standardError.write(Data("usage: residency-failover-bench STATE_DIR [POWER_LOSS] [PARTITION] [FREEZE] [BASELINE]\n".utf8))
    exit(64)
}
let state = StateDirectory(option: arguments[1])
let powerLossRounds = arguments.count > 2 ? Int(arguments[2]) ?? 20 : 20
let partitionRounds = arguments.count > 3 ? Int(arguments[3]) ?? 5 : 5
let freezeRounds = arguments.count > 4 ? Int(arguments[4]) ?? 10 : 10
let baselineRounds = arguments.count > 5 ? Int(arguments[5]) ?? 5 : 5

func seconds(_ d: Duration) -> Double { d.inSeconds }

do {
    let layout = try state.requireLayout()
    let control = try ControlStore(layout: layout)
    let topology = try control.requireTopology()
    let data = DataNodes(layout: layout)
    let manager = try LocalTopology.nodeManager(layout)
    let faults = try ZoneFaults(layout: layout, control: control)
    let shards = topology.shards.map(\.id)
    let tenants = try control.tenants()
    var tenantOf: [ShardID: TenantID] = [:]
    for tenant in tenants where tenantOf[tenant.shard] == nil { tenantOf[tenant.shard] = tenant.id }
    guard shards.allSatisfy({ tenantOf[$0] != nil }) else {
        log("every shard needs a tenant (run `residency up --demo` and add tenants)")
        exit(2)
    }

    func healthy() -> Bool {
        guard let status = try? StatusCollector(control: control, data: data).collect() else { return false }
        return status.isHealthy && ((try? control.openOperations().isEmpty) ?? false)
    }
    func shardRecord(_ id: ShardID) -> ControlStore.ShardRecord? { try? control.shards().first { $0.shard == id } }
    func writers() throws -> [ShardID: TenantWriter] {
        var result: [ShardID: TenantWriter] = [:]
        for shard in shards {
            let tenant = tenantOf[shard]!
            result[shard] = TenantWriter(connectionString: try TenantConnection.connectionString(for: tenant, control: control, layout: layout), tenant: tenant)
        }
        return result
    }
    func missing(_ history: [WriteAttempt], shard: ShardID) throws -> Int {
        let acknowledged = history.filter { $0.outcome == .ok }.map(\.id)
        guard !acknowledged.isEmpty, let primary = shardRecord(shard)?.primary,
              let port = try control.nodes().first(where: { $0.node == primary })?.port else { return 0 }
        let found = try data.connect(port: port)
            .query("SELECT count(*) FROM jira.issues WHERE id = ANY($1::uuid[])", ["{" + acknowledged.joined(separator: ",") + "}"]).scalar
        return acknowledged.count - (Int(found ?? "0") ?? 0)
    }

    struct Round { let kind: String; let shard: ShardID; let rto: Double; let lost: Int; let outsideRegion: Bool; let emptySyncSet: Bool; let unknown: Int }
    var rounds: [Round] = []

    func failureRound(_ index: Int, mode: ZoneFaults.Mode) throws {
        let shard = shards[index % shards.count]
        guard waitUntil(90, healthy) else { throw RuntimeError(.unavailable, "topology not healthy before round \(index)") }
        guard let before = shardRecord(shard) else { return }
        let running = try writers()
        running.values.forEach { $0.start() }
        usleep(1_000_000)
        _ = try faults.stop(before.primary.zone, mode: mode)
        let killedAt = ContinuousClock.now  // the signals have been sent
        _ = waitUntil(20) { shardRecord(shard)?.primary != before.primary && ((try? control.openOperations().isEmpty) ?? false) }
        let after = shardRecord(shard)
        let newPrimary = after?.primary.description ?? "?"
        _ = waitUntil(10) { running[shard]!.history.contains { $0.outcome == .ok && $0.acknowledgedBy == newPrimary && $0.invokedAt > killedAt } }
        usleep(500_000)
        var histories: [ShardID: [WriteAttempt]] = [:]
        for (id, writer) in running { histories[id] = writer.stop() }
        let firstAck = histories[shard]!.first { $0.outcome == .ok && $0.acknowledgedBy == newPrimary && $0.invokedAt > killedAt }
        let rto = firstAck.map { seconds($0.completedAt - killedAt) } ?? .infinity
        var lost = 0
        for (id, history) in histories { lost += try missing(history, shard: id) }
        let region = topology.shard(shard)?.region
        let outside = after.map { topology.region(ofZone: $0.primary.zone) != region } ?? true
        var emptySet = true
        if let after, let port = try control.nodes().first(where: { $0.node == after.primary })?.port {
            emptySet = (try data.connect(port: port).query("SHOW synchronous_standby_names").scalar ?? "").isEmpty
        }
        let unknown = histories.values.reduce(0) { $0 + $1.filter { $0.outcome == .unknown }.count }
        rounds.append(Round(kind: mode.rawValue, shard: shard, rto: rto, lost: lost, outsideRegion: outside, emptySyncSet: emptySet, unknown: unknown))
        log(String(format: "round %2d %-10@ %@ %@ -> %@: RTO %.3f s, lost %d, unknown %d", index + 1, mode.rawValue as NSString,
                   shard.rawValue as NSString, before.primary.zone.rawValue as NSString, (after?.primary.zone.rawValue ?? "?") as NSString, rto, lost, unknown))
        _ = try faults.start(before.primary.zone)
    }

    for index in 0..<powerLossRounds { try failureRound(index, mode: .powerLoss) }
    for index in 0..<partitionRounds { try failureRound(powerLossRounds + index, mode: .partition) }

    // A 300 ms freeze of a primary: the coordinator must not fail over.
    var freezeFailovers = 0
    for index in 0..<freezeRounds {
        _ = waitUntil(90, healthy)
        let shard = shards[index % shards.count]
        guard let before = shardRecord(shard) else { continue }
        usleep(500_000)
        manager.signalAll(before.primary.fileName, SIGSTOP)
        usleep(300_000)
        manager.signalAll(before.primary.fileName, SIGCONT)
        usleep(2_000_000)
        if shardRecord(shard)?.epoch != before.epoch { freezeFailovers += 1 }
    }

    // Baseline, same run: no coordinator; the primary is killed and restarted in place
    // (what a single server that comes straight back would give), time to the first write.
    var baseline: [Double] = []
    if baselineRounds > 0 {
        _ = waitUntil(90, healthy)
        let coordinator = CoordinatorProcess(state: state)
        let hadCoordinator = coordinator.stop() != nil
        for index in 0..<baselineRounds {
            let shard = shards[index % shards.count]
            guard let record = shardRecord(shard), let port = try control.nodes().first(where: { $0.node == record.primary })?.port else { continue }
            let running = try writers()
            running.values.forEach { $0.start() }
            usleep(1_000_000)
            manager.signalAll(record.primary.fileName, SIGKILL)
            let killedAt = ContinuousClock.now  // the signals have been sent
            _ = waitUntil(5) { manager.runningPID(record.primary.fileName) == nil }
            try manager.start(record.primary.fileName, port: port, clusterName: record.primary.description)
            _ = waitUntil(30) { running[shard]!.history.contains { $0.outcome == .ok && $0.invokedAt > killedAt } }
            let history = running[shard]!.stop()
            running.filter { $0.key != shard }.values.forEach { _ = $0.stop() }
            if let ack = history.first(where: { $0.outcome == .ok && $0.invokedAt > killedAt }) {
                baseline.append(seconds(ack.completedAt - killedAt))
                log(String(format: "baseline %d %@: restart in place, first write after %.3f s", index + 1, shard.rawValue as NSString, baseline.last!))
            }
            usleep(500_000)
        }
        if hadCoordinator { _ = try coordinator.start() }
    }

    let power = rounds.filter { $0.kind == ZoneFaults.Mode.powerLoss.rawValue }.map(\.rto)
    let partition = rounds.filter { $0.kind == ZoneFaults.Mode.partition.rawValue }.map(\.rto)
    print("power loss: \(power.count) rounds, RTO median \(String(format: "%.3f", median(power))) s, max \(String(format: "%.3f", power.max() ?? .nan)) s")
    print("partition:  \(partition.count) rounds, RTO median \(String(format: "%.3f", median(partition))) s, max \(String(format: "%.3f", partition.max() ?? .nan)) s")
    print("baseline (no coordinator, primary killed and restarted in place): \(baseline.count) rounds, first write after median \(String(format: "%.3f", median(baseline))) s; ratio power-loss RTO / baseline \(String(format: "%.2f", median(power) / median(baseline)))")
    print("acknowledged writes lost: \(rounds.reduce(0) { $0 + $1.lost }); promotions outside the region: \(rounds.filter(\.outsideRegion).count); new primaries with an empty synchronous set: \(rounds.filter(\.emptySyncSet).count); writes with unknown outcome: \(rounds.reduce(0) { $0 + $1.unknown })")
    print("300 ms freezes of a primary: \(freezeRounds), failovers caused: \(freezeFailovers)")
} catch {
    log("failover bench: \(error)")
    exit(2)
}
