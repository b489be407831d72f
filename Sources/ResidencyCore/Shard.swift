/// A PostgreSQL replication group inside one region: one node per zone.
public struct Shard: Hashable, Sendable, Codable {
    public let id: ShardID
    public let region: RegionID
    /// The zones holding a member, in configuration order; the first holds the initial primary.
    public let zones: [ZoneID]

    public init(id: ShardID, region: RegionID, zones: [ZoneID]) {
        precondition(zones.count >= 2, "a shard needs at least two zones to replicate synchronously")
        self.id = id
        self.region = region
        self.zones = zones
    }

    public var nodes: [NodeID] { zones.map { NodeID(shard: id, zone: $0) } }
    public var initialPrimary: NodeID { NodeID(shard: id, zone: zones[0]) }
}
