import ResidencyCore

/// The control store's failover state as the Runtime journals it (`ActionExecutor`): each
/// step journaled before it acts, the epoch, primary and synchronous set at the epoch step,
/// rewind marks at fences and rejoins, the operation closed at its last step. A successor
/// coordinator restores from `snapshot`, as the real one does from the control database.
struct SimulatedJournal {
    private var records: [ShardID: ControlSnapshot.ShardRecord] = [:]
    private var needsRewind: Set<NodeID> = []
    private var open: [ShardID: ShardOperation] = [:]
    private let order: [ShardID]

    init(topology: Topology) {
        order = topology.shards.map(\.id).sorted()
        for shard in topology.shards {
            records[shard.id] = .init(shard: shard.id, epoch: 1, primary: shard.initialPrimary,
                                      synchronousSet: shard.nodes.filter { $0 != shard.initialPrimary })
        }
    }

    func primary(of shard: ShardID) -> NodeID? { records[shard]?.primary }
    func epoch(of shard: ShardID) -> Int64 { records[shard]?.epoch ?? 0 }

    func snapshot(held: Set<ZoneID>) -> ControlSnapshot {
        ControlSnapshot(shards: order.compactMap { records[$0] }, needsRewind: needsRewind,
                        openOperations: order.compactMap { open[$0] }, heldZones: held)
    }

    mutating func record(_ action: Coordinator.Action, outcome: CoordinatorDriver.Outcome) {
        switch action {
        case let .perform(operation, _):
            open[operation.shard] = operation
            guard outcome == .event(.stepDone(operation.shard, operation.step)) else { return }
            switch operation.step {
            case .epoch:
                records[operation.shard] = .init(shard: operation.shard, epoch: operation.epoch, primary: operation.to, synchronousSet: operation.standbys)
            case .fence:
                needsRewind.insert(operation.from)
            default:
                break
            }
            if operation.step.next(for: operation.kind) == .done { open[operation.shard] = nil }
        case let .fence(node, _):
            if outcome == .event(.fenced(node)) { needsRewind.insert(node) }
        case let .rejoin(node, primary, _, _), let .confirmRejoined(node, primary, _):
            if outcome == .event(.rejoined(node, following: primary)) { needsRewind.remove(node) }
        case let .setSynchronousStandbys(primary, standbys, _):
            if outcome == .event(.synchronousStandbysSet(primary, standbys: standbys)), let record = records[primary.shard] {
                records[primary.shard] = .init(shard: record.shard, epoch: record.epoch, primary: record.primary, synchronousSet: standbys)
            }
        case .record:
            break
        }
    }
}
