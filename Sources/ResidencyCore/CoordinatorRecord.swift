/// One entry of the event log.
public struct CoordinatorRecord: Hashable, Sendable {
    public let kind: String
    public let shard: ShardID?
    public let epoch: Int64?
    public let from: NodeID?
    public let to: NodeID?
    public let detail: String

    public init(kind: String, shard: ShardID? = nil, epoch: Int64? = nil, from: NodeID? = nil, to: NodeID? = nil, detail: String) {
        self.kind = kind
        self.shard = shard
        self.epoch = epoch
        self.from = from
        self.to = to
        self.detail = detail
    }
}
