/// A journaled multi-step change of a shard's primary: a failover (unplanned), a forced
/// failover (an operator overrode rule 2), a switchover (planned) or a restore (an operator
/// makes a point-in-time restore of the shard its new primary: `backup restore --promote`).
public struct ShardOperation: Hashable, Sendable {
    public enum Kind: String, Hashable, Sendable {
        case failover
        case forcedFailover = "forced-failover"
        case switchover
        /// The shard's data is replaced by a restored server's (`backup restore --promote`):
        /// every member is fenced, the restored data directory becomes the target's, the
        /// target starts as primary, and every other member is rebuilt from it (rejoined
        /// with a rewind, which falls back to a base backup).
        case restore
    }

    /// The steps in the order they run. Every step is idempotent, so a coordinator that
    /// dies during one runs it again and goes on.
    public enum Step: String, Hashable, Sendable, CaseIterable {
        /// Switchover only: the old primary's commits stop being acknowledged, and the
        /// target has replayed everything it wrote.
        case drain
        /// Rule 3: the control store gets the new epoch and primary before any promotion.
        case epoch
        /// Rule 4: the candidate gets its new `synchronous_standby_names` before promotion.
        case synchronousStandbys = "synchronous-standbys"
        /// The remaining standbys stream from the candidate (slots recreated there).
        case repoint
        case promote
        /// Rule 5: the former primary is stopped; it rejoins later, rewound, as a standby.
        /// A restore stops every member.
        case fence
        /// Restore only: the restored data directory replaces the target's (which is kept
        /// aside), configured as the shard's primary.
        case install
        case done

        /// The steps of `kind`, in order. A restore fences before it installs and promotes
        /// (starts) last: no member of the old data may still take writes once the restored
        /// primary does.
        public static func order(for kind: Kind) -> [Step] {
            switch kind {
            case .switchover: [.drain, .epoch, .synchronousStandbys, .repoint, .promote, .fence, .done]
            case .failover, .forcedFailover: [.epoch, .synchronousStandbys, .repoint, .promote, .fence, .done]
            case .restore: [.epoch, .fence, .install, .promote, .done]
            }
        }

        public func next(for kind: Kind) -> Step {
            let order = Self.order(for: kind)
            guard let index = order.firstIndex(of: self) else { return .done }
            return order[min(index + 1, order.count - 1)]
        }

        public static func first(for kind: Kind) -> Step { order(for: kind)[0] }
    }

    public let kind: Kind
    public let shard: ShardID
    public let from: NodeID
    public let to: NodeID
    /// The epoch the shard has once the operation is through.
    public let epoch: Int64
    /// The standbys that remain: the candidate's new synchronous set and the nodes to repoint.
    public let standbys: [NodeID]
    public var step: Step

    public init(kind: Kind, shard: ShardID, from: NodeID, to: NodeID, epoch: Int64, standbys: [NodeID], step: Step) {
        self.kind = kind
        self.shard = shard
        self.from = from
        self.to = to
        self.epoch = epoch
        self.standbys = standbys
        self.step = step
    }
}
