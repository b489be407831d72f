/// What the control store records of a shard, and the coordinator keeps in memory.
public struct ShardState: Hashable, Sendable {
    public var epoch: Int64
    public var primary: NodeID
    /// The members named in the primary's `synchronous_standby_names` (`ANY 1 (...)`).
    public var synchronousSet: [NodeID]
    /// Former primaries that must be rewound before they may stream again.
    public var needsRewind: Set<NodeID>
    /// The operation in progress, if any.
    public var operation: ShardOperation?

    public init(epoch: Int64, primary: NodeID, synchronousSet: [NodeID], needsRewind: Set<NodeID> = [], operation: ShardOperation? = nil) {
        self.epoch = epoch
        self.primary = primary
        self.synchronousSet = synchronousSet
        self.needsRewind = needsRewind
        self.operation = operation
    }
}
