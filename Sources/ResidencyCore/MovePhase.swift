/// Where a residency move stands. The executor journals a phase before it acts on it, so
/// every phase names both what is done and what the next step will (re)do idempotently.
///
/// Forward order: planned → prepared → copying → catchingUp → preVerified → frozen →
/// verified → switched → retained → purged. Before `switched` a move can roll back
/// (rollingBack → rolledBack); from `switched` on the target holds the tenant's only
/// writable copy and the move only goes forward.
public enum MovePhase: String, CaseIterable, Hashable, Sendable, Codable, Comparable {
    /// Recorded; nothing created on any server yet.
    case planned
    /// Publication (row-filtered to the tenant) on the source primary; change tracking ready on the target.
    case prepared
    /// Subscription created on the target primary: PostgreSQL copies the tenant's rows.
    case copying
    /// Initial copy done; streaming changes; the target logs every change to the tenant's rows.
    case catchingUp = "catching-up"
    /// Count and multiset hash of every table taken on both sides (writers still running).
    case preVerified = "pre-verified"
    /// Source fenced for the tenant; waiting for the target to apply up to the fence.
    case frozen
    /// Every row covered and equal on both sides.
    case verified
    /// The catalogue points at the target shard: writes go there. No rollback from here on.
    case switched
    /// Replication objects dropped; the source copy stays frozen until its retention ends.
    case retained
    /// The source copy is deleted.
    case purged
    case rollingBack = "rolling-back"
    case rolledBack = "rolled-back"
    /// A scheduled move cancelled before its window opened; nothing was created.
    case cancelled

    public static func < (lhs: Self, rhs: Self) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }

    /// The phase-by-phase path of a move that succeeds.
    public static let forward: [MovePhase] = [.planned, .prepared, .copying, .catchingUp, .preVerified, .frozen, .verified, .switched, .retained, .purged]

    /// A move in this phase occupies its tenant: no second move may start.
    public var isOpen: Bool { self < .switched || self == .rollingBack }

    /// Ended: nothing will happen to the move any more (a retained move still waits for its purge).
    public var isFinal: Bool { self == .purged || self == .rolledBack || self == .cancelled }

    /// The phases of moves that no longer hold their tenant, as an SQL list (`'a', 'b'`).
    public static var closedSQLList: String {
        allCases.filter { !$0.isOpen }.map { "'\($0.rawValue)'" }.joined(separator: ", ")
    }

    /// What the step that leads out of this phase does, for plans and progress lines.
    public var nextStep: String {
        switch self {
        case .planned: "create the publication (insert, update, delete; row filter on the tenant) on the source primary"
        case .prepared: "create the subscription (synchronous_commit = on) on the target primary; PostgreSQL copies every row"
        case .copying: "wait for the initial copy; then log every change to the tenant's rows on the target"
        case .catchingUp: "take row count and multiset hash of every table on both sides while writers run"
        case .preVerified: "freeze the tenant's writes on the source once its open transactions end"
        case .frozen: "wait until the target has applied everything up to the freeze, then verify rows changed since the pre-check"
        case .verified: "switch the catalogue entry to the target shard: writes resume there"
        case .switched: "drop subscription, publication and slot; keep the source copy frozen until its retention ends"
        case .retained: "delete the source copy when its retention ends"
        case .purged, .rolledBack, .cancelled: "nothing: the move has ended"
        case .rollingBack: "drop subscription, publication and slot, delete the target's rows, unfreeze the source"
        }
    }
}
