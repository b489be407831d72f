/// `residency chaos`: a random drill per round, drawn from a seed. Each round is an ordinary
/// `Scenario` (written out as `simulations`-format YAML and run by the drill machinery, so
/// `residency drill FILE` replays it exactly): writers on a tenant of every region, and one
/// to three episodes one after another, each healed and settled before the next, drawn from
/// the drill's fault kinds: a zone power loss or partition of a shard's primary, a
/// crashed primary, a coordinator crash and restart, a coordinator that dies at a failover
/// step during a power loss, and a residency move with a power loss while its copy runs.
/// The same topology, seed and round give the same scenario.
public enum ChaosPlan {
    /// The kinds of episode a round is drawn from.
    public enum Episode: String, Hashable, Sendable, CaseIterable {
        case powerLoss = "power-loss"
        case partition
        case crashPrimary = "crash-primary"
        case coordinatorCrash = "coordinator-crash"
        case coordinatorCrashAtStep = "coordinator-crash-at"
        case moveUnderPowerLoss = "move-under-power-loss"
    }

    /// The scenario of `round` (1, 2, ...) of `seed` on `topology` (whose directory the
    /// scenario names as `topologyDirectory`); `nil` when the topology has no shard.
    public static func scenario(topology: Topology, topologyDirectory: String, seed: UInt64, round: Int) -> Scenario? {
        let shards = topology.shards.sorted { $0.id < $1.id }
        guard !shards.isEmpty else { return nil }
        var random = SeededRandom(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(max(0, round)))
        var tenants = tenants(for: topology)
        let mover = moverAndTarget(topology)
        var kinds = Episode.allCases
        if mover == nil { kinds.removeAll { $0 == .moveUnderPowerLoss } }
        var faults: [Scenario.Fault] = []
        var at = 3
        let count = 1 + random.below(3)
        var drawn: [Episode] = []
        for index in 0..<count {
            // The first episode is a zone fault: every round measures a failover.
            let kind = index == 0 ? [Episode.powerLoss, .partition][random.below(2)] : kinds[random.below(kinds.count)]
            if kind == .moveUnderPowerLoss, drawn.contains(.moveUnderPowerLoss) { continue }
            drawn.append(kind)
            let shard = shards[random.below(shards.count)].id
            let length = 3 + random.below(5)
            switch kind {
            case .powerLoss, .partition:
                faults.append(.init(at: .seconds(at), action: kind == .powerLoss ? .powerLoss : .partition, primaryOf: shard))
                faults.append(.init(at: .seconds(at + length), action: .heal))
                at += length + 8
            case .crashPrimary:
                faults.append(.init(at: .seconds(at), action: .crashPrimary, primaryOf: shard))
                at += 10
            case .coordinatorCrash:
                faults.append(.init(at: .seconds(at), action: .coordinatorCrash))
                faults.append(.init(at: .seconds(at + length), action: .coordinatorRestart))
                at += length + 6
            case .coordinatorCrashAtStep:
                let steps = ShardOperation.Step.order(for: .failover).filter { $0 != .done }
                faults.append(.init(at: .seconds(at), action: .coordinatorCrashAt, step: steps[random.below(steps.count)]))
                faults.append(.init(at: .seconds(at + 2), action: .powerLoss, primaryOf: shard))
                faults.append(.init(at: .seconds(at + 6), action: .coordinatorRestart))
                faults.append(.init(at: .seconds(at + 10), action: .heal))
                at += 18
            case .moveUnderPowerLoss:
                guard let (tenant, realm, source) = mover else { continue }
                faults.append(.init(at: .seconds(at), action: .move, move: .init(tenant: tenant.name, toRealm: realm, toRegion: nil, expect: .ended)))
                faults.append(.init(at: .seconds(at), action: .powerLoss, primaryOf: source, atMovePhase: .prepared))
                faults.append(.init(at: .seconds(at + length + 8), action: .heal))
                at += length + 20
            }
        }
        if let (tenant, _, _) = mover, drawn.contains(.moveUnderPowerLoss) { tenants.append(tenant) }
        let name = "chaos-\(seed)-\(round)"
        return Scenario(
            name: name, summary: "residency chaos --seed \(seed), round \(round): \(drawn.map(\.rawValue).joined(separator: ", "))",
            topologyDirectory: topologyDirectory, duration: .seconds(at + 4), tenants: tenants, writersPerTenant: 1,
            writePause: .zero, faults: faults, rtoMax: .seconds(10), rpoMax: 0, slaTier: nil, expectRefused: [], expectUnavailable: [])
    }

    /// A writing tenant on every region that has shards: `chaos-REGION`, in the realm of
    /// that region alone when there is one (else a realm holding it, pinned to the region).
    public static func tenants(for topology: Topology) -> [Scenario.Tenant] {
        var tenants: [Scenario.Tenant] = []
        for region in topology.regions where !region.shards.isEmpty {
            let realms = topology.realms.filter { $0.regions.contains(region.id) }.sorted { ($0.regions.count, $0.id) < ($1.regions.count, $1.id) }
            guard let realm = realms.first, let name = TenantID(validating: "chaos-\(region.id.rawValue)") else { continue }
            tenants.append(.init(name: name, realm: realm.id, region: realm.regions.count > 1 ? region.id : nil))
        }
        return tenants
    }

    /// A tenant pinned to a region of a realm of several regions, a realm that does not hold
    /// that region (where it can move), and its shard there; `nil` when no realm allows a move.
    static func moverAndTarget(_ topology: Topology) -> (tenant: Scenario.Tenant, realm: RealmID, source: ShardID)? {
        for realm in topology.realms.sorted(by: { $0.id < $1.id }) where realm.regions.count > 1 {
            for region in realm.regions.sorted() {
                guard let source = topology.regions.first(where: { $0.id == region })?.shards.map(\.id).sorted().first else { continue }
                let targets = topology.realms.filter { !$0.regions.contains(region) && $0.regions.contains { other in
                    topology.regions.contains { $0.id == other && !$0.shards.isEmpty }
                } }.sorted { $0.id < $1.id }
                guard let target = targets.first, let name = TenantID(validating: "chaos-mover") else { continue }
                return (.init(name: name, realm: realm.id, region: region, seedRows: 20_000), target.id, source)
            }
        }
        return nil
    }
}
