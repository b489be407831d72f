/// A journaled multi-step change of a shard's primary: a failover (unplanned), a forced
/// failover (an operator overrode rule 2) or a switchover (planned).
public struct ShardOperation: Hashable, Sendable {
    public enum Kind: String, Hashable, Sendable {
        case failover
        case forcedFailover = "forced-failover"
        case switchover
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
        case fence
        case done

        public func next(for kind: Kind) -> Step {
            let order = kind == .switchover ? Step.allCases : Step.allCases.filter { $0 != .drain }
            let index = order.firstIndex(of: self)!
            return order[min(index + 1, order.count - 1)]
        }

        public static func first(for kind: Kind) -> Step { kind == .switchover ? .drain : .epoch }
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
