/// Where a new tenant goes: the least-loaded shard of its realm.
public enum Placement {
    public enum Refusal: Error, Hashable, Sendable, CustomStringConvertible {
        case unknownRealm(RealmID, known: [RealmID])
        case unknownRegion(RegionID, known: [RegionID])
        case regionOutsideRealm(RegionID, realm: RealmID, realmRegions: [RegionID])
        case noShard(realm: RealmID)

        public var description: String {
            switch self {
            case let .unknownRealm(realm, known):
                "unknown realm '\(realm)' (known: \(known.map(\.rawValue).joined(separator: ", ")))"
            case let .unknownRegion(region, known):
                "unknown region '\(region)' (known: \(known.map(\.rawValue).joined(separator: ", ")))"
            case let .regionOutsideRealm(region, realm, realmRegions):
                "region '\(region)' is not in realm '\(realm)' (its regions: \(realmRegions.map(\.rawValue).joined(separator: ", ")))"
            case let .noShard(realm):
                "realm '\(realm)' has no shard to place a tenant on"
            }
        }
    }

    /// The shard for a tenant pinned to `realm` (and to `region`, when given).
    ///
    /// Least-loaded means fewest tenants, counted in `tenantsPerShard` (missing = 0);
    /// ties go to the smallest shard id so the choice is deterministic.
    public static func shard(
        forRealm realm: RealmID, region: RegionID?, in topology: Topology, tenantsPerShard: [ShardID: Int]
    ) throws(Refusal) -> ShardID {
        guard let pinned = topology.realm(realm) else {
            throw .unknownRealm(realm, known: topology.realms.map(\.id))
        }
        var regions = pinned.regions
        if let region {
            guard topology.region(region) != nil else {
                throw .unknownRegion(region, known: topology.regions.map(\.id))
            }
            guard pinned.regions.contains(region) else {
                throw .regionOutsideRealm(region, realm: realm, realmRegions: pinned.regions)
            }
            regions = [region]
        }
        let candidates = regions.compactMap(topology.region).flatMap(\.shards).map(\.id)
        guard let best = candidates.min(by: { a, b in
            (tenantsPerShard[a] ?? 0, a) < (tenantsPerShard[b] ?? 0, b)
        }) else {
            throw .noShard(realm: realm)
        }
        return best
    }
}
