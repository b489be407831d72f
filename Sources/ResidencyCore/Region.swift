/// A set of zones; replication never leaves it.
public struct Region: Hashable, Sendable, Codable {
    public let id: RegionID
    public let zones: [ZoneID]
    public let shards: [Shard]
    /// Local mode: the ports its nodes listen on.
    public let ports: PortRange

    public init(id: RegionID, zones: [ZoneID], shards: [Shard], ports: PortRange) {
        self.id = id
        self.zones = zones
        self.shards = shards
        self.ports = ports
    }

    /// Local mode: each node's port, assigned in shard order, then zone order, from `ports.first`.
    public var nodePorts: [(node: NodeID, port: Int)] {
        var result: [(NodeID, Int)] = []
        var port = ports.first
        for shard in shards {
            for node in shard.nodes {
                result.append((node, port))
                port += 1
            }
        }
        return result
    }
}
