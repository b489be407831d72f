/// What a residency move will do, computed by `MovePlanner` from the catalogue, the
/// topology and sizes measured on the source.
public struct MovePlan: Hashable, Sendable, Codable {
    /// What happens to one dataset.
    public enum Decision: String, Hashable, Sendable, Codable {
        /// Copied to the target shard, verified, switched.
        case moves
        /// A residency-eligible dataset without rows: it moves, but there is nothing to copy.
        case nothingToMove = "nothing-to-move"
        /// An app that is not residency-eligible: its data stays on its shard.
        case notEligible = "not-eligible"
    }

    public struct Item: Hashable, Sendable, Codable {
        public let dataset: Dataset
        /// The shard and region holding the dataset now.
        public let shard: ShardID
        public let region: RegionID
        public let rows: Int64
        public let bytes: Int64
        public let decision: Decision
    }

    public let tenant: TenantID
    public let fromRealm: RealmID
    public let toRealm: RealmID
    public let fromShard: ShardID
    public let fromRegion: RegionID
    public let toShard: ShardID
    public let toRegion: RegionID
    /// The tenant's shard already lies in the target realm: only the pin changes, no data moves.
    public let pinOnly: Bool
    public let items: [Item]
    public let throughputBytesPerSecond: Int64
    /// Where the throughput comes from ("median of 3 earlier moves" or "default ...").
    public let throughputSource: String
    public let estimatedCopyMilliseconds: Int64
    public let estimatedFreezeMilliseconds: Int64
    public let freezeSource: String
    /// The phases the move goes through, each with what it does.
    public let steps: [String]

    /// The datasets whose tables are published, copied and verified (eligible ones, rows or not:
    /// rows written during the move must move too).
    public var movingDatasets: [Dataset] { pinOnly ? [] : items.filter { $0.decision != .notEligible }.map(\.dataset) }
    public var movingRows: Int64 { items.filter { $0.decision == .moves }.map(\.rows).reduce(0, +) }
    public var movingBytes: Int64 { items.filter { $0.decision == .moves }.map(\.bytes).reduce(0, +) }
}

/// Sizes of a dataset measured on its shard's primary.
public struct DatasetSize: Hashable, Sendable {
    public let rows: Int64
    public let bytes: Int64

    public init(rows: Int64, bytes: Int64) {
        self.rows = rows
        self.bytes = bytes
    }
}

/// Figures of earlier moves, for estimates.
public struct MoveHistory: Hashable, Sendable {
    public var copyBytesPerSecond: [Int64]
    public var freezeMilliseconds: [Int64]

    public init(copyBytesPerSecond: [Int64] = [], freezeMilliseconds: [Int64] = []) {
        self.copyBytesPerSecond = copyBytesPerSecond
        self.freezeMilliseconds = freezeMilliseconds
    }
}
