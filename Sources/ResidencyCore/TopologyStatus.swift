/// Every shard's status; what `residency status` prints.
public struct TopologyStatus: Hashable, Sendable {
    public let shards: [ShardStatus]
    public let host: String

    public init(shards: [ShardStatus], host: String) {
        self.shards = shards
        self.host = host
    }

    /// Every shard has a primary and all its standbys streaming.
    public var isHealthy: Bool { shards.allSatisfy(\.isHealthy) }
}
