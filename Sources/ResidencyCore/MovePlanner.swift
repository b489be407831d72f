/// Plans a residency move: which datasets move, where to, how long it should take.
public enum MovePlanner {
    public enum Refusal: Error, Hashable, Sendable, CustomStringConvertible {
        case unknownTenant(String, known: [TenantID])
        case placement(Placement.Refusal)
        case moveOpen(TenantID, move: Int64, phase: MovePhase)
        /// Already pinned to the realm, on a shard of it (of the region asked for): the move would change nothing.
        case nothingToMove(TenantID, realm: RealmID, shard: ShardID)

        public var description: String {
            switch self {
            case let .unknownTenant(name, known):
                "unknown tenant '\(name)'" + (known.isEmpty ? " (the catalogue is empty)" : " (tenants: \(known.prefix(10).map(\.rawValue).joined(separator: ", "))\(known.count > 10 ? ", ..." : ""))")
            case let .placement(refusal):
                refusal.description
            case let .moveOpen(tenant, move, phase):
                "tenant \(tenant) already has move \(move) open (\(phase.rawValue)): wait for it, or `residency move rollback \(move)`"
            case let .nothingToMove(tenant, realm, shard):
                "tenant \(tenant) is already pinned to \(realm), on \(shard): nothing to move"
            }
        }
    }

    /// Used until a move on this topology has measured its own copy throughput (bytes/s).
    public static let defaultThroughputBytesPerSecond: Int64 = 20_000_000
    /// Used until a move on this topology has measured its own write freeze.
    public static let defaultFreezeMilliseconds: Int64 = 300

    /// The plan for moving `tenantName` to `realm` (to `region` of it when given).
    ///
    /// - Parameters:
    ///   - sizes: per dataset name, measured on the shard holding it; missing = empty.
    ///   - openMove: the tenant's move that is still open, if any.
    public static func plan(
        tenantName: String, to realm: RealmID, region: RegionID?, tenants: [Tenant], topology: Topology,
        tenantsPerShard: [ShardID: Int], sizes: [String: DatasetSize], openMove: (id: Int64, phase: MovePhase)?,
        history: MoveHistory
    ) throws(Refusal) -> MovePlan {
        guard let tenant = tenants.first(where: { $0.id.rawValue == tenantName }) else {
            throw .unknownTenant(tenantName, known: tenants.map(\.id))
        }
        if let openMove { throw .moveOpen(tenant.id, move: openMove.id, phase: openMove.phase) }
        guard let targetRealm = topology.realm(realm) else {
            throw .placement(.unknownRealm(realm, known: topology.realms.map(\.id)))
        }
        let fromRegion = topology.shard(tenant.shard)?.region ?? RegionID("?")
        let allowedRegions = region.map { [$0] } ?? targetRealm.regions
        let pinOnly = targetRealm.regions.contains(fromRegion) && allowedRegions.contains(fromRegion)
        let toShard: ShardID
        if pinOnly {
            if let region, !targetRealm.regions.contains(region) {
                throw .placement(.regionOutsideRealm(region, realm: realm, realmRegions: targetRealm.regions))
            }
            if tenant.realm == realm { throw .nothingToMove(tenant.id, realm: realm, shard: tenant.shard) }
            toShard = tenant.shard
        } else {
            do {
                toShard = try Placement.shard(forRealm: realm, region: region, in: topology, tenantsPerShard: tenantsPerShard)
            } catch {
                throw .placement(error)
            }
        }
        let items = Dataset.of(tenant, in: topology).map { dataset in
            let shard = tenant.shard(of: dataset)
            let size = sizes[dataset.name] ?? DatasetSize(rows: 0, bytes: 0)
            let decision: MovePlan.Decision =
                !dataset.residencyEligible ? .notEligible : size.rows == 0 ? .nothingToMove : .moves
            return MovePlan.Item(
                dataset: dataset, shard: shard, region: topology.shard(shard)?.region ?? RegionID("?"),
                rows: size.rows, bytes: size.bytes, decision: decision)
        }
        let throughput = median(history.copyBytesPerSecond).map { max($0, 1) }
        let freeze = median(history.freezeMilliseconds)
        let bytes = pinOnly ? 0 : items.filter { $0.decision == .moves }.map(\.bytes).reduce(0, +)
        let rate = throughput ?? defaultThroughputBytesPerSecond
        return MovePlan(
            tenant: tenant.id, fromRealm: tenant.realm, toRealm: realm, fromShard: tenant.shard, fromRegion: fromRegion,
            toShard: toShard, toRegion: topology.shard(toShard)?.region ?? RegionID("?"), pinOnly: pinOnly, items: items,
            throughputBytesPerSecond: rate,
            throughputSource: throughput == nil
                ? "default (no move measured on this topology yet)"
                : "median of \(history.copyBytesPerSecond.count) earlier move(s)",
            estimatedCopyMilliseconds: bytes * 1000 / rate,
            estimatedFreezeMilliseconds: pinOnly ? 0 : freeze ?? defaultFreezeMilliseconds,
            freezeSource: freeze == nil
                ? "default (no move measured on this topology yet)"
                : "median of \(history.freezeMilliseconds.count) earlier move(s)",
            steps: pinOnly
                ? ["change the pin of \(tenant.id) from \(tenant.realm) to \(realm) in the catalogue: no data moves"]
                : MovePhase.forward.dropLast().map { "\($0.rawValue) -> \($0.nextStep)" })
    }

    static func median(_ values: [Int64]) -> Int64? {
        guard !values.isEmpty else { return nil }
        return values.sorted()[values.count / 2]
    }
}
