import Foundation
import Logging
import ResidencyConfig
import ResidencyCore
import ResidencyPostgres
import ResidencyRuntime
#if canImport(Glibc)
import Glibc
#endif

/// Runs a scenario against the local topology's real servers: brings the topology up,
/// creates the tenants, writes through their connection strings, injects the faults on
/// time, heals, waits until the topology has converged, reads every node back and checks.
public struct Drill {
    /// How long the drill waits after its duration for a move still running: longer than
    /// the default catch-up limit (10 min) plus a verification and a rollback.
    static let moveEndMax: Duration = .seconds(20 * 60)

    public let scenario: Scenario
    public let topology: Topology
    public let topologyDirectory: String
    public let state: StateDirectory
    public let logger: Logger
    /// Phase lines for a person watching.
    public let progress: (String) -> Void
    /// Called after convergence, before the check (tests use it to tamper with a row).
    public let beforeCheck: (DrillHistory) throws -> Void
    /// The `residency` executable the coordinator runs as.
    public let executable: String?

    public init(scenario: Scenario, topology: Topology, topologyDirectory: String, state: StateDirectory, logger: Logger,
                executable: String? = nil, progress: @escaping (String) -> Void = { _ in },
                beforeCheck: @escaping (DrillHistory) throws -> Void = { _ in }) {
        self.scenario = scenario
        self.topology = topology
        self.topologyDirectory = topologyDirectory
        self.state = state
        self.logger = logger
        self.executable = executable
        self.progress = progress
        self.beforeCheck = beforeCheck
    }

    public func run() throws -> DrillResult {
        let wallStart = ContinuousClock.now
        progress("bringing the topology up")
        _ = try LocalTopology(state: state, logger: logger, progress: { _ in }).up(
            topology, topologyDirectory: topologyDirectory, demo: false, startCoordinator: executable == nil, executable: executable)
        let layout = try state.requireLayout()
        let coordinator = CoordinatorProcess(state: state)
        if coordinator.runningPID == nil { _ = try coordinator.start(executable: executable) }
        let control = try ControlStore(layout: layout)
        let data = DataNodes(layout: layout)
        let manager = try LocalTopology.nodeManager(layout)
        let faults = try ZoneFaults(layout: layout, control: control)

        try refuseWeakenedDurability(control: control, data: data)
        progress("waiting until every shard is whole")
        guard waitUntil(90, { Self.converged(control: control, data: data) }) else {
            throw RuntimeError(.unavailable, "the topology is not healthy before the drill (see `residency status`); nothing was run")
        }

        // Tenants: created once, reused by later drills.
        let catalog = TenantCatalog(control: control, data: data, topology: topology)
        var existing = Dictionary(try control.tenants().map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        for tenant in scenario.tenants where existing[tenant.name] == nil {
            if tenant.seedRows > 0 { progress("creating tenant \(tenant.name) with \(tenant.seedRows) rows per table") }
            let created = try catalog.create(TenantCatalog.Request(name: tenant.name.rawValue, realm: tenant.realm.rawValue, region: tenant.region?.rawValue,
                                                                   apps: topology.apps.map(\.key.rawValue), demoRows: tenant.seedRows))
            existing[tenant.name] = created
        }
        // A tenant that an earlier run moved goes back where the scenario places it.
        if try placeMovingTenants(existing, layout: layout) {
            existing = Dictionary(try control.tenants().map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        }
        for tenant in scenario.tenants where existing[tenant.name]?.realm != tenant.realm {
            throw RuntimeError(.invalidInput, "tenant \(tenant.name) exists pinned to \(existing[tenant.name]?.realm.rawValue ?? "?"), not \(tenant.realm)")
        }

        let initialPrimaries = Dictionary(try control.shards().map { ($0.shard, $0.primary) }, uniquingKeysWith: { a, _ in a })
        var writers: [(TenantID, ShardID, TenantWriter)] = []
        for tenant in scenario.tenants {
            let conninfo = try TenantConnection.connectionString(for: tenant.name, control: control, layout: layout)
            for _ in 0..<scenario.writersPerTenant {
                let name = tenant.name
                writers.append((tenant.name, existing[tenant.name]!.shard,
                                TenantWriter(connectionString: conninfo, tenant: tenant.name, writePause: scenario.writePause) {
                                    // Refused by a move's write fence: re-read the routing, as an application does.
                                    guard let control = try? ControlStore(layout: layout) else { return nil }
                                    return try? TenantConnection.connectionString(for: name, control: control, layout: layout)
                                }))
            }
        }
        // Before the clock starts: the base backups a tenant restore starts from.
        let restorer = try DrillRestorer(scenario: scenario, state: state, control: control, data: data, progress: progress)
        // One clock for everything: the control server's, in ms since 1970.
        let startedAtMs = try control.nowMilliseconds()
        let startedAt = ContinuousClock.now
        let wallMs: @Sendable (ContinuousClock.Instant) -> Int64 = { [startedAtMs, startedAt] instant in
            startedAtMs + (instant - startedAt).inMilliseconds
        }
        let mover = DrillMover(layout: layout, holdAt: Set(scenario.faults.compactMap(\.atMovePhase)), wallMs: wallMs)
        var movesReported = 0
        progress("workload: \(writers.count) writer(s) for \(scenario.tenants.count) tenant(s), \(scenario.duration)")
        writers.forEach { $0.2.start() }

        // Live figures every 2 s while waiting: elapsed, writes/s, failures so far.
        var lastReport = (at: startedAt, acknowledged: 0)
        func wait(until due: ContinuousClock.Instant) {
            while ContinuousClock.now < due {
                Thread.sleep(forTimeInterval: min(0.25, (due - .now).inSeconds))
                let moves = mover.moves
                for move in moves.dropFirst(movesReported) { progress(DrillMover.summary(move)) }
                movesReported = moves.count
                guard ContinuousClock.now - lastReport.at >= .seconds(2) else { continue }
                let histories = writers.map { $0.2.history }
                let acknowledged = histories.reduce(0) { $0 + $1.filter { $0.outcome == .ok }.count }
                let failed = histories.reduce(0) { $0 + $1.filter { $0.outcome != .ok }.count }
                let rate = Double(acknowledged - lastReport.acknowledged) / (ContinuousClock.now - lastReport.at).inSeconds
                progress("workload t=\(Int((ContinuousClock.now - startedAt).inSeconds)) s: \(Int(rate)) writes/s, \(acknowledged) acknowledged, \(failed) failed or unknown")
                lastReport = (ContinuousClock.now, acknowledged)
            }
        }
        var injected: [DrillHistory.Fault] = []
        var missed: [String] = []
        for fault in scenario.faults {
            wait(until: startedAt + fault.at)
            if let phase = fault.atMovePhase {
                guard mover.waitFor(phase, timeout: Duration.seconds(600)) else {
                    let what = "\(fault.action.rawValue) at move phase \(phase.rawValue)"
                    progress("\(what): the move never reached \(phase.rawValue); not injected")
                    missed.append(what)
                    continue
                }
            }
            var zone = fault.zone
            let shardsNow = try control.shards()
            if let shard = fault.primaryOf { zone = shardsNow.first { $0.shard == shard }?.primary.zone }
            // Which primaries a zone fault hits, as recorded when it fires: one that hits none
            // measures nothing (the verdict says so).
            let primariesHit: [ShardID]? = switch fault.action {
            case .powerLoss, .partition: shardsNow.filter { $0.primary.zone == zone }.map(\.shard)
            case .crashPrimary: fault.primaryOf.map { [$0] }
            default: nil
            }
            progress("t=\(Int((ContinuousClock.now - startedAt).inSeconds)) s: \(fault.action.rawValue)\(zone.map { " \($0)" } ?? "")"
                     + (fault.atMovePhase.map { " (move at \($0.rawValue))" } ?? ""))
            switch fault.action {
            case .powerLoss: _ = try faults.stop(zone!, mode: .powerLoss)
            case .partition: _ = try faults.stop(zone!, mode: .partition)
            case .heal:
                if let zone { _ = try faults.start(zone) } else { for held in try control.heldZones().keys { _ = try faults.start(held) } }
            case .coordinatorCrash: coordinator.crash()
            case .coordinatorCrashAt:
                coordinator.crash()
                _ = try coordinator.start(crashAt: "coordinator.after-\(fault.step!.rawValue)", executable: executable)
            case .coordinatorRestart: _ = try coordinator.start(executable: executable)
            case .crashPrimary:
                if let shard = fault.primaryOf, let primary = try control.shards().first(where: { $0.shard == shard })?.primary {
                    manager.signalAll(primary.fileName, SIGKILL)
                    zone = primary.zone
                }
            case .move:
                let order = fault.move!
                if mover.isRunning { progress("move \(order.tenant) waits for the previous move to end") }
                mover.start(order)
            case .deleteTenantRows:
                try restorer.deleteRows(of: fault.tenant!)
            case .restoreTenant:
                restorer.restore(fault.tenant!)
            }
            injected.append(DrillHistory.Fault(atMs: wallMs(.now), action: fault.action.rawValue, zone: zone, primariesHit: primariesHit,
                                               expectsNoPrimary: fault.hitsNoPrimary))
            if let phase = fault.atMovePhase { mover.release(phase) }
        }
        wait(until: startedAt + scenario.duration)
        if mover.isRunning {
            // A move ends by itself (its catch-up has a limit, every other wait too); this
            // bound only guards the drill against a bug.
            progress("waiting for the move to end (writers keep writing; at most \(Self.moveEndMax.inMilliseconds / 60_000) min)")
            let deadline = ContinuousClock.now + Self.moveEndMax
            while mover.isRunning && ContinuousClock.now < deadline { wait(until: ContinuousClock.now + Duration.seconds(1)) }
            if mover.isRunning { throw RuntimeError(.unavailable, "the drill's move has not ended within \(Self.moveEndMax.inMilliseconds / 60_000) min: see `residency move list`") }
        }
        for move in mover.moves.dropFirst(movesReported) { progress(DrillMover.summary(move)) }
        let attempts = writers.map { ($0.0, $0.1, $0.2.stop()) }

        progress("healing and waiting until the topology has converged")
        for held in try control.heldZones().keys { _ = try faults.start(held) }
        if coordinator.runningPID == nil { _ = try coordinator.start(executable: executable) }
        guard waitUntil(120, { Self.converged(control: control, data: data) }) else {
            let problems = (try? StatusCollector(control: control, data: data).collect().shards.flatMap(\.problems)) ?? ["status unavailable"]
            let open = (try? control.openOperations().map { "\($0.kind.rawValue) of \($0.shard) at \($0.step.rawValue)" }) ?? []
            let held = (try? control.heldZones().keys.map(\.rawValue)) ?? []
            throw RuntimeError(.unavailable, "the topology did not converge within 120 s after the drill: \((problems + open + held.map { "zone \($0) held" }).joined(separator: "; ")); see `residency status` and `residency events`")
        }

        let writes = attempts.flatMap { tenant, shard, history in
            history.map { attempt in
                DrillHistory.Write(
                    id: attempt.id, tenant: tenant, shard: shard, invokedAtMs: wallMs(attempt.invokedAt), completedAtMs: wallMs(attempt.completedAt),
                    outcome: DrillHistory.Write.Outcome(rawValue: attempt.outcome.rawValue) ?? .unknown,
                    acknowledgedBy: attempt.acknowledgedBy.flatMap(Self.node), error: attempt.error)
            }
        }
        // The drill's moves keep no source copy: purged now, so that the residency check
        // sees where every moved tenant's data ends (a retained copy is frozen, pending deletion).
        var moves = mover.moves
        for index in moves.indices where moves[index].outcome == MovePhase.retained.rawValue {
            guard let id = moves[index].id else { continue }
            progress("purging the source copy of move \(id) (\(moves[index].tenant) on \(moves[index].fromShard?.rawValue ?? "?"))")
            try purgeSourceCopy(of: id, layout: layout)
            moves[index].outcome = MovePhase.purged.rawValue
        }
        var history = DrillHistory(
            writes: writes, promotions: try control.promotions(sinceMs: startedAtMs).map { DrillHistory.Promotion(node: $0.node, atMs: $0.atMs) },
            faults: injected, initialPrimaries: initialPrimaries,
            finalPrimaries: Dictionary(try control.shards().map { ($0.shard, $0.primary) }, uniquingKeysWith: { a, _ in a }), rows: [],
            moves: moves, missedFaults: missed)
        history.restores = restorer.restores
        try beforeCheck(history)
        history.rowCounts = try restorer.rowCounts()
        history.rows = try readBack(ids: writes.map(\.id), tenants: scenario.tenants.map(\.name), control: control, data: data)

        // Where each tenant is pinned now: a move changed the pin of the tenant it switched.
        let pinned = Dictionary(try control.tenants().map { ($0.id, $0.realm) }, uniquingKeysWith: { a, _ in a })
        let realms = Dictionary(scenario.tenants.map { ($0.name, pinned[$0.name] ?? $0.realm) }, uniquingKeysWith: { a, _ in a })
        let checker = HistoryChecker(history: history, topology: topology, realms: realms)
        let month = CalendarMonth(containing: startedAtMs)
        let sla: [SLAResult] = scenario.slaTier.flatMap { topology.serviceLevels.tier($0) }.map { tier in
            scenario.tenants.map { SLAResult(tenant: $0.name.rawValue, product: "jira", month: month,
                                             samples: checker.minutesByTenant[$0.name] ?? [], tier: tier) }
        } ?? []
        let outside = history.promotions.map(\.node).filter { node in
            topology.region(ofZone: node.zone) != topology.shard(node.shard)?.region
        }
        let verdict = DrillVerdict(scenario: scenario, checker: checker, refused: try control.refusals(sinceMs: startedAtMs),
                                   promotedOutsideRegion: outside, sla: sla, faults: history.faults)
        var perSecond: [ShardID: [Int]] = [:]
        let seconds = Int(scenario.duration.components.seconds)  // whole seconds only: the last partial one would read as a drop
        for write in writes where write.outcome == .ok {
            let second = Int((write.completedAtMs - startedAtMs) / 1000)
            guard second >= 0, second < seconds else { continue }
            // Counted on the shard that acknowledged it: a moved tenant's writes land on its new shard.
            perSecond[write.acknowledgedBy?.shard ?? write.shard, default: Array(repeating: 0, count: seconds)][second] += 1
        }
        return DrillResult(
            scenario: scenario, startedAtMs: startedAtMs, finishedAtMs: try control.nowMilliseconds(),
            writes: (writes.filter { $0.outcome == .ok }.count, writes.filter { $0.outcome == .failed }.count, writes.filter { $0.outcome == .unknown }.count),
            checker: checker, history: history, sla: sla, verdict: verdict, acknowledgedPerSecond: perSecond,
            wallSeconds: (ContinuousClock.now - wallStart).inSeconds)
    }

    /// Puts every tenant that the scenario moves back where the scenario places it (its
    /// realm, and its region when given) when an earlier run moved it: an open move of it is
    /// rolled back, then it moves back and its source copy is purged. Returns whether
    /// anything moved.
    private func placeMovingTenants(_ existing: [TenantID: Tenant], layout: StateDirectory.Layout) throws -> Bool {
        var moved = false
        for tenant in scenario.tenants where scenario.movingTenants.contains(tenant.name) {
            guard let current = existing[tenant.name] else { continue }
            let executor = try MoveExecutor(layout: layout)
            if let open = try executor.control.openMove(of: tenant.name) {
                progress("rolling back move \(open.id) of \(tenant.name), left open by an earlier run")
                _ = try executor.rollback(open.id, reason: "a drill starts")
            }
            let region = topology.shard(current.shard)?.region
            guard current.realm != tenant.realm || (tenant.region != nil && tenant.region != region) else { continue }
            progress("placing \(tenant.name) back in \(tenant.realm)\(tenant.region.map { " (\($0))" } ?? ""), where the scenario starts it")
            let move = try executor.start(try executor.plan(tenant: tenant.name.rawValue, to: tenant.realm.rawValue, region: tenant.region?.rawValue),
                                          retentionDays: 0)
            if move.phase == .retained { try purgeSourceCopy(of: move.id, layout: layout) }
            guard [.retained, .purged].contains(move.phase) || move.plan.pinOnly else {
                throw RuntimeError(.unavailable, "could not place \(tenant.name) back in \(tenant.realm): move \(move.id) ended \(move.phase.rawValue): \(move.reason)")
            }
            moved = true
        }
        return moved
    }

    /// Deletes the source copy a drill's move retained (retention 0). The leading
    /// coordinator may be purging it at the same moment: that is fine.
    private func purgeSourceCopy(of id: Int64, layout: StateDirectory.Layout) throws {
        let executor = try MoveExecutor(layout: layout)
        guard try executor.control.move(id)?.phase == .retained else { return }
        do {
            _ = try executor.purge(id)
        } catch {
            if try executor.control.move(id)?.phase != .purged { throw error }
        }
    }

    /// Refuses to run on nodes whose durability is weakened: they would pass drills they fail on real power loss.
    private func refuseWeakenedDurability(control: ControlStore, data: DataNodes) throws {
        for node in try control.nodes() {
            guard let connection = try? data.connect(port: node.port) else { continue }
            for (setting, required) in [("fsync", "on"), ("full_page_writes", "on"), ("synchronous_commit", "on")] {
                let value = try connection.query("SHOW \(setting)").scalar ?? ""
                if value != required {
                    throw RuntimeError(.unavailable, "\(node.node) runs with \(setting) = \(value): a drill on weakened durability proves nothing; nothing was run")
                }
            }
        }
    }

    /// Every drill row of `tenants` on every node, to find what survived and where it lives.
    private func readBack(ids: [String], tenants: [TenantID], control: ControlStore, data: DataNodes) throws -> [DrillHistory.StoredRow] {
        let idList = "{" + ids.joined(separator: ",") + "}"
        let tenantList = "{" + tenants.map(\.rawValue).joined(separator: ",") + "}"
        var rows: [DrillHistory.StoredRow] = []
        for node in try control.nodes() {
            let connection = try data.connect(port: node.port)
            let found = try connection.query(
                "SELECT tenant_id, id::text FROM jira.issues WHERE tenant_id = ANY($1::text[]) AND id = ANY($2::uuid[])", [tenantList, idList])
            rows += found.rows.compactMap { row in
                guard let tenant = row[0].flatMap(TenantID.init(validating:)), let id = row[1] else { return nil }
                return DrillHistory.StoredRow(node: node.node, tenant: tenant, id: id)
            }
        }
        return rows
    }

    static func converged(control: ControlStore, data: DataNodes) -> Bool {
        guard let status = try? StatusCollector(control: control, data: data).collect(), status.isHealthy,
              (try? control.openOperations().isEmpty) == true, (try? control.heldZones().isEmpty) == true else { return false }
        return true
    }

    static func node(_ clusterName: String) -> NodeID? {
        let parts = clusterName.split(separator: "/")
        guard parts.count == 2 else { return nil }
        return NodeID(shard: ShardID(String(parts[0])), zone: ZoneID(String(parts[1])))
    }

    private func waitUntil(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(100_000)
        }
        return condition()
    }
}
