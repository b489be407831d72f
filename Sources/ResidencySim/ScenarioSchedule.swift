import ResidencyCore

/// Drills and simulations speak of the same faults: a drill's scenario becomes a fault
/// schedule the simulator runs (`residency simulate FILE`), and a simulated schedule that
/// broke a rule becomes a drill for the real processes (`--save-failing`).
public enum ScenarioSchedule {
    /// What of a scenario the simulator cannot run.
    public struct Unsupported: Error, Sendable, CustomStringConvertible {
        public let actions: [String]
        public var description: String {
            "the simulator does not run \(actions.joined(separator: ", ")) yet: run the scenario with `residency drill`"
        }
    }

    /// The scenario as simulation settings: its faults as a schedule (a power loss or
    /// partition lasts until the next `heal`, or the end, striking the zone named or the zone
    /// of `primary_of`'s primary when it starts; `crash-primary` is a node crash of that
    /// primary, which Core restarts; a `coordinator-crash` lasts until `coordinator-restart`;
    /// `coordinator-crash-at STEP` makes the leader die after journaling STEP of the next zone
    /// fault's failover), and its first move: the tenant placed as the drill places tenants,
    /// the target as `MovePlanner` picks it, a fault waiting for a move phase as
    /// `Settings.moveFault` (on the move's source or target). A second move, or a fault
    /// waiting for a phase on a third shard, is `Unsupported`.
    public static func settings(of scenario: Scenario, topology: Topology) throws(Unsupported) -> Simulation.Settings {
        var settings = Simulation.Settings()
        settings.duration = scenario.duration
        settings.mayStayDown = Set(scenario.expectUnavailable)
        // A drill may take two zones down at once (its own targets judge its RTO).
        settings.checkRecoveryBounds = false
        let moves = scenario.faults.filter { $0.action == .move }
        if moves.count > 1 { throw Unsupported(actions: ["a second move"]) }
        if let order = moves.first?.move {
            var counts: [ShardID: Int] = [:]
            var placed: [TenantID: ShardID] = [:]
            for tenant in scenario.tenants {
                guard let shard = try? Placement.shard(forRealm: tenant.realm, region: tenant.region, in: topology, tenantsPerShard: counts) else { continue }
                counts[shard, default: 0] += 1
                placed[tenant.name] = shard
            }
            guard let from = placed[order.tenant],
                  let to = try? Placement.shard(forRealm: order.toRealm, region: order.toRegion, in: topology, tenantsPerShard: counts)
            else { throw Unsupported(actions: ["a move whose tenant or target cannot be placed"]) }
            settings.move = .init(from: from, to: to, atMilliseconds: Int(moves[0].at.inMilliseconds), toRealm: order.toRealm, expect: order.expect)
            if let waiting = scenario.faults.first(where: { $0.atMovePhase != nil }), let phase = waiting.atMovePhase {
                guard waiting.action == .powerLoss || waiting.action == .partition, let shard = waiting.primaryOf, shard == from || shard == to else {
                    throw Unsupported(actions: ["a fault waiting for a move phase other than a power loss or partition of the move's source or target primary"])
                }
                let heal = scenario.faults.first { $0.action == .heal && $0.at > waiting.at }.map { Int($0.at.inMilliseconds) } ?? Int(scenario.duration.inMilliseconds)
                settings.moveFault = .init(phase: phase, onTarget: shard == to && shard != from, kind: waiting.action == .powerLoss ? .powerLoss : .partition,
                                           healAtMilliseconds: heal)
            }
        }
        settings.schedule = try faults(of: Scenario(
            name: scenario.name, summary: scenario.summary, topologyDirectory: scenario.topologyDirectory, duration: scenario.duration,
            tenants: scenario.tenants, writersPerTenant: scenario.writersPerTenant, writePause: scenario.writePause,
            faults: scenario.faults.filter { $0.action != .move && $0.atMovePhase == nil }, rtoMax: scenario.rtoMax, rpoMax: scenario.rpoMax,
            slaTier: scenario.slaTier, expectRefused: scenario.expectRefused, expectUnavailable: scenario.expectUnavailable), topology: topology)
        return settings
    }

    /// The scenario's faults as a simulation schedule (see `settings(of:topology:)`); moves
    /// faults waiting for a move phase, and tenant deletions and restores are `Unsupported` here.
    public static func faults(of scenario: Scenario, topology: Topology) throws(Unsupported) -> [Simulation.Fault] {
        let unsupported = Set(scenario.faults.compactMap { fault -> String? in
            switch fault.action {
            case .move: "move"
            case .deleteTenantRows, .restoreTenant: fault.action.rawValue
            default: fault.atMovePhase != nil ? "faults waiting for a move phase" : nil
            }
        })
        guard unsupported.isEmpty else { throw Unsupported(actions: unsupported.sorted()) }
        let end = Int(scenario.duration.inMilliseconds)
        var faults: [Simulation.Fault] = []
        var openZones: [Int] = []
        var openCoordinator: Int?
        var crashAfter: String?
        func zone(_ fault: Scenario.Fault) -> ZoneID {
            fault.zone ?? fault.primaryOf.flatMap { topology.shard($0)?.primaryZone } ?? ZoneID("unknown")
        }
        for fault in scenario.faults {
            let at = Int(fault.at.inMilliseconds)
            switch fault.action {
            case .powerLoss, .partition:
                openZones.append(faults.count)
                faults.append(.init(kind: fault.action == .powerLoss ? .powerLoss : .partition, zone: zone(fault), atMilliseconds: at,
                                    forMilliseconds: end - at, coordinatorCrashAfter: crashAfter, primaryOf: fault.primaryOf))
                crashAfter = nil
            case .heal:
                for index in openZones { faults[index] = faults[index].lasting(at - faults[index].atMilliseconds) }
                openZones = []
            case .crashPrimary:
                faults.append(.init(kind: .nodeCrash, zone: zone(fault), atMilliseconds: at, forMilliseconds: 1, shard: fault.primaryOf, primaryOf: fault.primaryOf))
            case .coordinatorCrash:
                openCoordinator = faults.count
                faults.append(.init(kind: .coordinatorCrash, zone: "coordinator", atMilliseconds: at, forMilliseconds: end - at))
            case .coordinatorRestart:
                if let index = openCoordinator { faults[index] = faults[index].lasting(at - faults[index].atMilliseconds) }
                openCoordinator = nil
            case .coordinatorCrashAt:
                crashAfter = fault.step?.rawValue
            case .move, .deleteTenantRows, .restoreTenant:
                break
            }
        }
        return faults
    }

    /// A drill of `faults` for the real processes, with a writer on a tenant of every region
    /// (as `residency chaos`), and the faults no drill action expresses (named in `skipped`).
    /// Times are rounded to whole seconds (a drill's `at_s`); a zone fault lasts at least 1 s.
    /// No RTO target (a zone it names may hold no primary when it strikes); RPO 0.
    public static func scenario(name: String, summary: String, faults: [Simulation.Fault], durationMilliseconds: Int, topology: Topology,
                                topologyDirectory: String) -> (scenario: Scenario, skipped: [String]) {
        var drill: [Scenario.Fault] = []
        var skipped: [String] = []
        for fault in faults.sorted(by: { $0.atMilliseconds < $1.atMilliseconds }) {
            let at = fault.atMilliseconds / 1_000
            let until = max(at + 1, (fault.atMilliseconds + fault.forMilliseconds + 999) / 1_000)
            let place: (zone: ZoneID?, primaryOf: ShardID?) = fault.primaryOf.map { (nil, $0) } ?? (fault.zone, nil)
            switch fault.kind {
            case .powerLoss, .slowPromotion, .partition, .shortFreeze, .longFreeze:
                if let step = fault.coordinatorCrashAfter.flatMap(ShardOperation.Step.init(rawValue:)) {
                    drill.append(.init(at: .seconds(max(0, at - 1)), action: .coordinatorCrashAt, step: step))
                    drill.append(.init(at: .seconds(until), action: .coordinatorRestart))
                }
                drill.append(.init(at: .seconds(at), action: fault.kind == .powerLoss || fault.kind == .slowPromotion ? .powerLoss : .partition,
                                   zone: place.zone, primaryOf: place.primaryOf, hitsNoPrimary: true))
                drill.append(.init(at: .seconds(until), action: .heal))
                if fault.kind == .slowPromotion { skipped.append("slow promotions at \(fault.atMilliseconds) ms (kept as a plain power loss)") }
            case .nodeCrash:
                if let shard = fault.primaryOf ?? fault.shard, fault.primaryOf != nil || topology.shard(shard)?.primaryZone == fault.zone {
                    drill.append(.init(at: .seconds(at), action: .crashPrimary, primaryOf: shard))
                } else {
                    skipped.append("node-crash of a standby at \(fault.atMilliseconds) ms")
                }
            case .coordinatorCrash:
                drill.append(.init(at: .seconds(at), action: .coordinatorCrash))
                drill.append(.init(at: .seconds(until), action: .coordinatorRestart))
            case .flapping, .coordinatorCut, .clientsCut, .leaseLoss:
                skipped.append("\(fault.kind.rawValue) at \(fault.atMilliseconds) ms")
            }
        }
        let scenario = Scenario(
            name: name, summary: summary, topologyDirectory: topologyDirectory, duration: .seconds(max(1, (durationMilliseconds + 999) / 1_000)),
            tenants: ChaosPlan.tenants(for: topology), writersPerTenant: 1, writePause: .zero, faults: drill, rtoMax: nil, rpoMax: 0,
            slaTier: nil, expectRefused: [], expectUnavailable: [])
        return (scenario, skipped)
    }
}

extension Simulation.Fault {
    /// The same fault, lasting `milliseconds`.
    func lasting(_ milliseconds: Int) -> Simulation.Fault {
        Simulation.Fault(kind: kind, zone: zone, atMilliseconds: atMilliseconds, forMilliseconds: max(0, milliseconds),
                         coordinatorCrashAfter: coordinatorCrashAfter, shard: shard, primaryOf: primaryOf)
    }
}

extension Simulation {
    /// A shorter schedule that still breaks a rule with the same seed: faults dropped one at
    /// a time while it still fails, then each remaining fault halved in length while it still
    /// fails; at most `budget` runs. `nil` when the run passes.
    public static func shrink(topology: Topology, seed: UInt64, settings: Settings, budget: Int = 200) -> [Fault]? {
        var runs = 0
        func fails(_ faults: [Fault]) -> Bool {
            runs += 1
            var replay = settings
            replay.schedule = faults
            return !Simulation(topology: topology, seed: seed, settings: replay).run().passed
        }
        let first = Simulation(topology: topology, seed: seed, settings: settings).run()
        guard !first.passed else { return nil }
        var faults = first.faults
        var changed = true
        while changed, runs < budget {
            changed = false
            for index in faults.indices.reversed() where runs < budget && faults.count > 1 {
                var candidate = faults
                candidate.remove(at: index)
                if fails(candidate) {
                    faults = candidate
                    changed = true
                }
            }
            for index in faults.indices where runs < budget && faults[index].forMilliseconds >= 2_000 {
                var candidate = faults
                candidate[index] = faults[index].lasting(faults[index].forMilliseconds / 2)
                if fails(candidate) {
                    faults = candidate
                    changed = true
                }
            }
        }
        return faults
    }
}
