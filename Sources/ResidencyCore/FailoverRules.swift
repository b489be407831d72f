/// The safety rules of promotion, each a separate decision that tests can call with plain
/// values. `Coordinator` applies them; nothing else promotes.
public enum FailoverRules {
    /// Rule 1 (and 6): only a standby of the same shard, in a zone of the shard's region,
    /// is a candidate. A region that is down as a whole therefore stays down.
    public static func isCandidate(_ node: NodeID, for shard: Shard, primary: NodeID, in topology: Topology) -> Bool {
        node.shard == shard.id && node != primary && shard.zones.contains(node.zone)
            && topology.region(ofZone: node.zone) == shard.region
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

    /// Rule 2: the standby proven to hold every acknowledged commit. A commit was
    /// acknowledged once one member of `synchronousSet` had flushed it, so either every
    /// member is reachable and the one with the highest received LSN has them all, or the
    /// set has a single member, which has them all. Otherwise refuse.
    ///
    /// `reports` must be fresh (taken after the primary was last seen) for every reachable
    /// member; ties go to the first member in `synchronousSet` order.
    public static func provenCandidate(
        synchronousSet: [NodeID], reachable: [NodeID: NodeReport], fresh: Set<NodeID>
    ) -> Result<NodeID, Refusal> {
        let unreachable = synchronousSet.filter { reachable[$0] == nil }
        if synchronousSet.count == 1, let only = synchronousSet.first, reachable[only] != nil {
            return fresh.contains(only) ? .success(only) : .failure(.awaitingFreshProbes)
        }
        guard unreachable.isEmpty else {
            return .failure(synchronousSet.count == unreachable.count && reachable.isEmpty ? .noCandidate : .synchronousMemberUnreachable(unreachable))
        }
        guard !synchronousSet.isEmpty else { return .failure(.noCandidate) }
        guard synchronousSet.allSatisfy(fresh.contains) else { return .failure(.awaitingFreshProbes) }
        var best = synchronousSet[0]
        for node in synchronousSet.dropFirst()
        where (reachable[node]?.receivedLSN ?? LSN(0)) > (reachable[best]?.receivedLSN ?? LSN(0)) {
            best = node
        }
        return .success(best)
    }

    /// Rule 4: the synchronous set a new primary gets before it is promoted: the standbys
    /// that remain (reachable, in the region). If none remains it names every other member,
    /// so that its commits wait until one comes back instead of being acknowledged by one
    /// node alone.
    public static func newSynchronousSet(for candidate: NodeID, of shard: Shard, remaining: [NodeID]) -> [NodeID] {
        let others = shard.nodes.filter { $0 != candidate }
        let kept = others.filter(remaining.contains)
        return kept.isEmpty ? others : kept
    }

    /// Rule 5: a node that answers as a primary while the control store names another is a
    /// former primary; it must be fenced before anything else happens to it.
    public static func isStaleFormerPrimary(_ node: NodeID, report: NodeReport, currentPrimary: NodeID) -> Bool {
        !report.inRecovery && node != currentPrimary
    }
}
