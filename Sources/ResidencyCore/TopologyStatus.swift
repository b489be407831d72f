/// Every shard's status; what `residency status` prints.
public struct TopologyStatus: Hashable, Sendable {
    public let shards: [ShardStatus]
    public let host: String

    public init(shards: [ShardStatus], host: String) {
        self.shards = shards
        self.host = host
    }

    /// How many primaries each zone of `region` holds (every zone with a member listed, in
    /// the order the shards name them).
    public func primariesByZone(_ region: RegionID) -> [(zone: ZoneID, primaries: Int)] {
        var zones: [ZoneID] = []
        for shard in shards where shard.region == region {
            for node in shard.nodes where !zones.contains(node.node.zone) { zones.append(node.node.zone) }
        }
        return zones.sorted().map { zone in (zone, shards.filter { $0.region == region && $0.primary.zone == zone }.count) }
    }

    /// Every shard has a primary and all its standbys streaming.
    public var isHealthy: Bool { shards.allSatisfy(\.isHealthy) }
}
