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
        /// What the client saw when it failed or ended unknown.
        public let error: String?

        public init(id: String, tenant: TenantID, shard: ShardID, invokedAtMs: Int64, completedAtMs: Int64, outcome: Outcome, acknowledgedBy: NodeID?,
                    error: String? = nil) {
            self.error = error
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
        /// For a fault on a zone or a primary: the shards whose primary it hit, as the
        /// control store recorded them when it fired (`nil` for other actions).
        public let primariesHit: [ShardID]?
        /// The scenario expected it to hit no primary (`hits_no_primary`).
        public let expectsNoPrimary: Bool

        public init(atMs: Int64, action: String, zone: ZoneID?, primariesHit: [ShardID]? = nil, expectsNoPrimary: Bool = false) {
            self.atMs = atMs
            self.action = action
            self.zone = zone
            self.primariesHit = primariesHit
            self.expectsNoPrimary = expectsNoPrimary
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

    /// A residency move the drill ran (a scenario's `move` action).
    public struct Move: Hashable, Sendable {
        public let tenant: TenantID
        /// The control store's move id (`nil` when the move was refused before it was recorded).
        public let id: Int64?
        public let fromShard: ShardID?
        public let toShard: ShardID?
        public let toRealm: RealmID
        public let startedAtMs: Int64
        public let endedAtMs: Int64
        /// The phase it ended in (`retained`, `rolled-back`, ...; `purged` once the drill
        /// deleted the source copy), or `failed` when the executor stopped with an error.
        public var outcome: String
        /// Why it rolled back or stopped; the write freeze for a move that switched.
        public let reason: String
        public let freezeMs: Int64?
        /// From the end of the initial copy (catching-up journaled) to the switch; `nil`
        /// when it did not switch.
        public let catchUpMs: Int64?

        public init(tenant: TenantID, id: Int64?, fromShard: ShardID?, toShard: ShardID?, toRealm: RealmID, startedAtMs: Int64, endedAtMs: Int64,
                    outcome: String, reason: String, freezeMs: Int64?, catchUpMs: Int64? = nil) {
            self.catchUpMs = catchUpMs
            self.tenant = tenant
            self.id = id
            self.fromShard = fromShard
            self.toShard = toShard
            self.toRealm = toRealm
            self.startedAtMs = startedAtMs
            self.endedAtMs = endedAtMs
            self.outcome = outcome
            self.reason = reason
            self.freezeMs = freezeMs
        }

        /// Switched to the target (`retained` or, once the drill purged the source, `purged`).
        public var switched: Bool { outcome == MovePhase.retained.rawValue || outcome == MovePhase.purged.rawValue }
    }

    /// A tenant restored to a point in time during the drill (`restore-tenant`).
    public struct TenantRestore: Hashable, Sendable {
        public let tenant: TenantID
        /// The point in time it was restored to: just before the mistake.
        public let targetMs: Int64
        /// When its writes were frozen for the swap, and when the swap committed (still
        /// frozen: nothing of the tenant commits between the two); `nil` when it failed first.
        public let frozeAtMs: Int64?
        public let swappedAtMs: Int64?
        /// Why it failed; `nil` when it succeeded.
        public let error: String?

        public init(tenant: TenantID, targetMs: Int64, frozeAtMs: Int64?, swappedAtMs: Int64?, error: String?) {
            self.tenant = tenant
            self.targetMs = targetMs
            self.frozeAtMs = frozeAtMs
            self.swappedAtMs = swappedAtMs
            self.error = error
        }
    }

    /// The rows a tenant held on its shard's primary before the drill's workload and after it.
    public struct RowCount: Hashable, Sendable {
        public let tenant: TenantID
        public let before: Int64
        public let after: Int64

        public init(tenant: TenantID, before: Int64, after: Int64) {
            self.tenant = tenant
            self.before = before
            self.after = after
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
    /// The moves the drill ran, in order.
    public var moves: [Move]
    /// Faults that never fired because the move phase they waited for never came.
    public var missedFaults: [String]
    /// Tenants restored to a point in time, in order.
    public var restores: [TenantRestore] = []
    /// Row counts (`jira.issues`) of the tenants not restored, when the scenario restores one.
    public var rowCounts: [RowCount] = []

    public init(writes: [Write], promotions: [Promotion], faults: [Fault], initialPrimaries: [ShardID: NodeID],
                finalPrimaries: [ShardID: NodeID], rows: [StoredRow], moves: [Move] = [], missedFaults: [String] = []) {
        self.moves = moves
        self.missedFaults = missedFaults
        self.writes = writes
        self.promotions = promotions
        self.faults = faults
        self.initialPrimaries = initialPrimaries
        self.finalPrimaries = finalPrimaries
        self.rows = rows
    }
}
