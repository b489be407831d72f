import ResidencyCore

/// One residency move in the simulator. Core's `MoveDriver` makes every decision; this is
/// the state its steps act on, as `MoveExecutor` acts on PostgreSQL: the moving tenant's
/// rows on the source and target shards (records of their WALs, so failovers apply to
/// them), the subscription's position, the write fence, the catalogue's routing.
struct SimulatedMove {
    typealias Order = Simulation.MoveOrder

    /// A tenant row: its id (as the client chose it) and the record holding it.
    struct Row {
        let row: Int
        let record: Int
    }

    var driver: MoveDriver
    let source: Int
    let target: Int
    /// The catalogue routes the tenant to the target (set by the switch, cleared by an undo).
    var routedToTarget = false
    /// The tenant's writes are fenced on the source.
    var frozen = false
    /// Rows committed on the source, in commit order; on the target, applied or written there.
    var sourceRows: [Row] = []
    var targetRows: [Row] = []
    /// Source rows the copy and the subscription have applied (`sourceRows` positions below it).
    var applied = 0
    var subscribed = false
    var acknowledged: Set<Int> = []
    var nextRow = 0
    /// How it must end (`Simulation.MoveOrder.expect`).
    let expect: Scenario.MoveOutcome
    var started = false
    var finished = false
    /// When its write fence went up, and when the tenant was writable again (switched, or unfrozen by an undo).
    var frozenAt: Int?
    var writableAgainAt: Int?
    /// The phases it journaled, in order.
    var phases: [MovePhase] = []

    /// The plan `MovePlanner` makes for a tenant on `from` moving to `to`'s realm and region;
    /// `nil` when no realm holds `to`'s region without `from`'s.
    static func plan(_ order: Order, topology: Topology) -> MovePlan? {
        guard let from = topology.shard(order.from), let to = topology.shard(order.to),
              let fromRealm = topology.realms.first(where: { $0.regions.contains(from.region) }),
              let toRealm = topology.realms.first(where: { realm in
                  order.toRealm.map { realm.id == $0 } ?? (realm.regions.contains(to.region) && !realm.regions.contains(from.region))
              }),
              let name = TenantID(validating: "sim-mover")
        else { return nil }
        let tenant = Tenant(id: name, realm: fromRealm.id, shard: from.id, products: ["jira"], apps: [], createdAt: "", appShards: [:])
        return try? MovePlanner.plan(tenantName: name.rawValue, to: toRealm.id, region: to.region, tenants: [tenant], topology: topology,
                                     tenantsPerShard: [:], sizes: ["jira": DatasetSize(rows: 1_000, bytes: 100_000)], openMove: nil,
                                     history: MoveHistory())
    }

    /// Every (from, to) of shards in two regions that a realm lets a tenant move between,
    /// in shard id order.
    static func pairs(_ topology: Topology) -> [(from: ShardID, to: ShardID)] {
        let shards = topology.shards.sorted { $0.id < $1.id }
        return shards.flatMap { from in
            shards.filter { $0.region != from.region && plan(.init(from: from.id, to: $0.id, atMilliseconds: 0), topology: topology) != nil }
                .map { (from: from.id, to: $0.id) }
        }
    }

    init?(order: Order, topology: Topology, shards: SimulatedShards) {
        guard let plan = Self.plan(order, topology: topology), let source = shards.shardNumber[order.from],
              let target = shards.shardNumber[plan.toShard] else { return nil }
        driver = MoveDriver(move: Move(id: 1, plan: plan, phase: .planned, createdAt: "", updatedAt: "", switchedAt: nil, retainUntil: nil,
                                       retentionDays: 7, copiedRows: 0, lagBytes: nil, copyMilliseconds: nil, copyBytes: nil,
                                       freezeMilliseconds: nil, reason: "", rollbackRequested: nil, verification: ""))
        self.source = source
        self.target = target
        expect = order.expect
    }

    /// The shard the tenant's writes go to.
    var routed: Int { routedToTarget ? target : source }

    /// Row ids of `rows` on the timeline of `primary` (`nil`: none answers).
    static func visible(_ rows: [Row], on primary: Int?, shards: SimulatedShards) -> [Int] {
        guard let primary, let lowest = rows.map({ shards.records.depth(of: $0.record) }).min() else { return [] }
        let timeline = shards.records.timeline(endingAt: shards[primary].tip, downToDepth: lowest)
        return rows.filter { timeline.contains($0.record) }.map(\.row)
    }
}
