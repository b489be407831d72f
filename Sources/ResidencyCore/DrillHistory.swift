/// What a drill recorded, in plain values, for `HistoryChecker`. Times are milliseconds
/// since 1970-01-01T00:00Z (the drill converts its clock once).
public struct DrillHistory: Hashable, Sendable {
    /// One write attempt of the workload.
    public struct Write: Hashable, Sendable {
        public enum Outcome: String, Hashable, Sendable {
            case ok, failed, unknown
        }

        public let id: String
        public let tenant: TenantID
        public let shard: ShardID
        public let invokedAtMs: Int64
        public let completedAtMs: Int64
        public let outcome: Outcome
        /// The node that acknowledged it, as the server reported in the same statement.
        public let acknowledgedBy: NodeID?

        public init(id: String, tenant: TenantID, shard: ShardID, invokedAtMs: Int64, completedAtMs: Int64, outcome: Outcome, acknowledgedBy: NodeID?) {
            self.id = id
            self.tenant = tenant
            self.shard = shard
            self.invokedAtMs = invokedAtMs
            self.completedAtMs = completedAtMs
            self.outcome = outcome
            self.acknowledgedBy = acknowledgedBy
        }
    }

    /// A node became its shard's primary.
    public struct Promotion: Hashable, Sendable {
        public let node: NodeID
        public let atMs: Int64

        public init(node: NodeID, atMs: Int64) {
            self.node = node
            self.atMs = atMs
        }
    }

    /// A fault the drill injected.
    public struct Fault: Hashable, Sendable {
        public let atMs: Int64
        public let action: String
        /// The zone it hit, if it hit one.
        public let zone: ZoneID?

        public init(atMs: Int64, action: String, zone: ZoneID?) {
            self.atMs = atMs
            self.action = action
            self.zone = zone
        }
    }

    /// A workload row found on a node at the end.
    public struct StoredRow: Hashable, Sendable {
        public let node: NodeID
        public let tenant: TenantID
        public let id: String

        public init(node: NodeID, tenant: TenantID, id: String) {
            self.node = node
            self.tenant = tenant
            self.id = id
        }
    }

    public var writes: [Write]
    public var promotions: [Promotion]
    public var faults: [Fault]
    /// Each shard's primary when the workload started.
    public var initialPrimaries: [ShardID: NodeID]
    /// Each shard's primary when the topology had converged after the drill.
    public var finalPrimaries: [ShardID: NodeID]
    public var rows: [StoredRow]

    public init(writes: [Write], promotions: [Promotion], faults: [Fault], initialPrimaries: [ShardID: NodeID],
                finalPrimaries: [ShardID: NodeID], rows: [StoredRow]) {
        self.writes = writes
        self.promotions = promotions
        self.faults = faults
        self.initialPrimaries = initialPrimaries
        self.finalPrimaries = finalPrimaries
        self.rows = rows
    }
}
