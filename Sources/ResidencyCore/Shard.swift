/// A PostgreSQL replication group inside one region: one node per zone.
public struct Shard: Hashable, Sendable, Codable {
    public let id: ShardID
    public let region: RegionID
    /// The zones holding a member, in configuration order.
    public let zones: [ZoneID]
    /// The zone of the initial primary: the first of `zones` when the shard lists them
    /// (a pin), otherwise chosen by `PrimarySpread.place` so primaries spread over the zones.
    public let primaryZone: ZoneID

    public init(id: ShardID, region: RegionID, zones: [ZoneID], primaryZone: ZoneID? = nil) {
        precondition(zones.count >= 2, "a shard needs at least two zones to replicate synchronously")
        precondition(primaryZone.map(zones.contains) ?? true, "the primary's zone must hold a member")
        self.id = id
        self.region = region
        self.zones = zones
        self.primaryZone = primaryZone ?? zones[0]
    }

    public var nodes: [NodeID] { zones.map { NodeID(shard: id, zone: $0) } }
    public var initialPrimary: NodeID { NodeID(shard: id, zone: primaryZone) }

    private enum CodingKeys: String, CodingKey { case id, region, zones, primaryZone }

    /// Topologies recorded by older versions have no `primaryZone`: theirs was the first zone.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(ShardID.self, forKey: .id)
        region = try container.decode(RegionID.self, forKey: .region)
        zones = try container.decode([ZoneID].self, forKey: .zones)
        primaryZone = try container.decodeIfPresent(ZoneID.self, forKey: .primaryZone) ?? zones[0]
    }
}
