/// A residency move as the control store records it.
public struct Move: Hashable, Sendable, Codable {
    public let id: Int64
    public let plan: MovePlan
    public var phase: MovePhase
    /// ISO 8601, UTC.
    public var createdAt: String
    public var updatedAt: String
    public var switchedAt: String?
    /// When the retained source copy is deleted (set at the switch).
    public var retainUntil: String?
    public var retentionDays: Int
    public var copiedRows: Int64
    public var lagBytes: Int64?
    public var copyMilliseconds: Int64?
    public var copyBytes: Int64?
    public var freezeMilliseconds: Int64?
    /// Why it rolled back or what its last step failed with.
    public var reason: String
    /// Set by `move rollback` for the process executing the move.
    public var rollbackRequested: String?
    /// What verification compared and found.
    public var verification: String
    /// A scheduled move's window; `nil` for a move started at once.
    public var window: MoveWindow?
    /// The epochs of the source and target shards when the move's steps began (a different
    /// epoch later means that shard failed over during the move); `nil` before it started.
    public var sourceEpoch: Int64?
    public var targetEpoch: Int64?
    /// How long catch-up may take before the move rolls back (`nil`: the default of `MoveSettings`).
    public var catchUpLimitMilliseconds: Int64?
    /// Catch-up's last figures: WAL written on the source and applied by the target, per
    /// second, and the time left at those rates (`nil`: unknown, or not gaining).
    public var writtenBytesPerSecond: Int64?
    public var appliedBytesPerSecond: Int64?
    public var etaMilliseconds: Int64?

    public init(
        id: Int64, plan: MovePlan, phase: MovePhase, createdAt: String, updatedAt: String, switchedAt: String?, retainUntil: String?,
        retentionDays: Int, copiedRows: Int64, lagBytes: Int64?, copyMilliseconds: Int64?, copyBytes: Int64?, freezeMilliseconds: Int64?,
        reason: String, rollbackRequested: String?, verification: String, window: MoveWindow? = nil,
        epochsAtStart: (source: Int64, target: Int64)? = nil
    ) {
        self.window = window
        sourceEpoch = epochsAtStart?.source
        targetEpoch = epochsAtStart?.target
        self.id = id
        self.plan = plan
        self.phase = phase
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.switchedAt = switchedAt
        self.retainUntil = retainUntil
        self.retentionDays = retentionDays
        self.copiedRows = copiedRows
        self.lagBytes = lagBytes
        self.copyMilliseconds = copyMilliseconds
        self.copyBytes = copyBytes
        self.freezeMilliseconds = freezeMilliseconds
        self.reason = reason
        self.rollbackRequested = rollbackRequested
        self.verification = verification
    }

    public var tenant: TenantID { plan.tenant }

    /// Planned with a window that has not opened yet at `nowMilliseconds`.
    public func isWaiting(nowMilliseconds: Int64) -> Bool {
        phase == .planned && (window.map { $0.startMilliseconds > nowMilliseconds } ?? false)
    }

    /// Percent of the planned rows copied (100 once the copy is done).
    public var percentCopied: Int {
        if phase >= .catchingUp && phase <= .purged { return 100 }
        if phase == .cancelled { return 0 }
        if plan.movingRows == 0 { return 0 }
        return Int(min(100, copiedRows * 100 / max(plan.movingRows, 1)))
    }
}
