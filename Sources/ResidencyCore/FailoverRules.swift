/// The safety rules of promotion, each a separate decision that tests can call with plain
/// values. `Coordinator` applies them; nothing else promotes.
public enum FailoverRules {
    /// Rule 1 (and 6): only a standby of the same shard, in a zone of the shard's region,
    /// is a candidate. A region that is down as a whole therefore stays down.
    public static func isCandidate(_ node: NodeID, for shard: Shard, primary: NodeID, in topology: Topology) -> Bool {
        node != primary && isMemberInRegion(node, of: shard, in: topology)
    }

    /// The part of rule 1 that does not depend on the primary: `node` is a member of
    /// `shard` in a zone of the shard's region.
    public static func isMemberInRegion(_ node: NodeID, of shard: Shard, in topology: Topology) -> Bool {
        node.shard == shard.id && shard.zones.contains(node.zone) && topology.region(ofZone: node.zone) == shard.region
    }

    /// Why a failover cannot be proved safe.
    public enum Refusal: Error, Hashable, Sendable, CustomStringConvertible {
        /// A member of the primary's synchronous set is unreachable, and it may hold
        /// acknowledged commits the others lack (two zones down at once).
        case synchronousMemberUnreachable([NodeID])
        /// No standby of the shard's region answers (the region is down).
        case noCandidate
        /// A reachable member has not been probed since the primary was last seen.
        case awaitingFreshProbes

        public var description: String {
            switch self {
            case let .synchronousMemberUnreachable(nodes):
                "cannot prove any standby holds every acknowledged commit: synchronous standby(s) \(nodes.map(\.description).joined(separator: ", ")) unreachable"
            case .noCandidate: "no standby of the shard's region is reachable"
            case .awaitingFreshProbes: "waiting for fresh probes of the synchronous standbys"
            }
        }
    }

    /// A reachable standby that may be promoted, as rule 2 sees it.
    public struct Reachable: Hashable, Sendable {
        public let node: NodeID
        public let receivedLSN: LSN
        /// Probed after the primary was last seen.
        public let fresh: Bool

        public init(node: NodeID, receivedLSN: LSN, fresh: Bool) {
            self.node = node
            self.receivedLSN = receivedLSN
            self.fresh = fresh
        }
    }

    /// Rule 2: the standby proven to hold every acknowledged commit. A commit was
    /// acknowledged once one member of `synchronousSet` had flushed it, so either every
    /// member is reachable and the one with the highest received LSN has them all, or the
    /// set has a single member, which has them all. Otherwise refuse.
    ///
    /// Every reachable member must be `fresh` (probed after the primary was last seen);
    /// ties go to the first member in `synchronousSet` order. (A shard has a handful of
    /// members: lookups here are linear.)
    public static func provenCandidate(synchronousSet: [NodeID], reachable: [Reachable]) -> Result<NodeID, Refusal> {
        func find(_ node: NodeID) -> Reachable? { reachable.first { $0.node == node } }
        let unreachable = synchronousSet.filter { find($0) == nil }
        if synchronousSet.count == 1, let only = synchronousSet.first, let report = find(only) {
            return report.fresh ? .success(only) : .failure(.awaitingFreshProbes)
        }
        guard unreachable.isEmpty else {
            return .failure(synchronousSet.count == unreachable.count && reachable.isEmpty ? .noCandidate : .synchronousMemberUnreachable(unreachable))
        }
        guard !synchronousSet.isEmpty else { return .failure(.noCandidate) }
        let members = synchronousSet.compactMap(find)
        guard members.allSatisfy(\.fresh) else { return .failure(.awaitingFreshProbes) }
        var best = members[0]
        for member in members.dropFirst() where member.receivedLSN > best.receivedLSN { best = member }
        return .success(best.node)
    }

    /// Rule 4: the synchronous set a new primary gets before it is promoted: the standbys
    /// that remain (reachable, in the region). If none remains it names every other member
    /// of the shard (`members`), so that its commits wait until one comes back instead of
    /// being acknowledged by one node alone.
    public static func newSynchronousSet(for candidate: NodeID, members: [NodeID], remaining: [NodeID]) -> [NodeID] {
        let others = members.filter { $0 != candidate }
        let kept = others.filter(remaining.contains)
        return kept.isEmpty ? others : kept
    }

    /// Rule 5: a node that answers as a primary while the control store names another is a
    /// former primary; it must be fenced before anything else happens to it.
    /// Takes numbers (the coordinator's, or any consistent numbering): it runs for every
    /// answering node in every probe round.
    public static func isStaleFormerPrimary(_ node: Int, inRecovery: Bool, currentPrimary: Int) -> Bool {
        !inRecovery && node != currentPrimary
    }
}
