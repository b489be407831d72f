/// What the control store holds about the shards, as a new leader reads it: the restore
/// `Coordinator(topology:restoring:)` starts from.
public struct ControlSnapshot: Hashable, Sendable {
    public struct ShardRecord: Hashable, Sendable {
        public let shard: ShardID
        public let epoch: Int64
        public let primary: NodeID
        public let synchronousSet: [NodeID]

        public init(shard: ShardID, epoch: Int64, primary: NodeID, synchronousSet: [NodeID]) {
            self.shard = shard
            self.epoch = epoch
            self.primary = primary
            self.synchronousSet = synchronousSet
        }
    }

    public let shards: [ShardRecord]
    /// Former primaries marked for rewind.
    public let needsRewind: Set<NodeID>
    /// Operations journaled as started and not finished.
    public let openOperations: [ShardOperation]
    public let heldZones: Set<ZoneID>

    public init(shards: [ShardRecord], needsRewind: Set<NodeID>, openOperations: [ShardOperation], heldZones: Set<ZoneID>) {
        self.shards = shards
        self.needsRewind = needsRewind
        self.openOperations = openOperations
        self.heldZones = heldZones
    }
}
