/// The health of one shard, judged from one round of observations.
public struct ShardStatus: Hashable, Sendable {
    public let shard: ShardID
    public let region: RegionID
    public let epoch: Int64
    public let primary: NodeID
    public let nodes: [NodeStatus]
    /// Empty exactly when the shard is healthy: its primary answers as a primary and every
    /// standby streams from it.
    public let problems: [String]

    public var isHealthy: Bool { problems.isEmpty }

    public init(shard: Shard, epoch: Int64, primary: NodeID, ports: [NodeID: Int], observations: [NodeObservation]) {
        self.shard = shard.id
        self.region = shard.region
        self.epoch = epoch
        self.primary = primary
        var problems: [String] = []
        let byNode = Dictionary(observations.map { ($0.node, $0) }, uniquingKeysWith: { a, _ in a })
        let primaryView = byNode[primary]
        switch (primaryView?.reachable, primaryView?.inRecovery) {
        case (true?, false?): break
        case (true?, _): problems.append("primary \(primary) is in recovery")
        default: problems.append("primary \(primary) is unreachable")
        }
        let replicationByName = Dictionary(
            (primaryView?.standbys ?? []).map { ($0.applicationName, $0) }, uniquingKeysWith: { a, _ in a })
        var nodes: [NodeStatus] = []
        for node in shard.nodes {
            let seen = byNode[node]
            let role: NodeRole = node == primary ? .primary : .standby
            let replication: StandbyReplication? = role == .standby ? replicationByName[node.postgresName] : nil
            let state: ReplicationState
            if seen?.reachable != true {
                state = .unreachable
                if role == .standby { problems.append("standby \(node) is unreachable") }
            } else if role == .primary {
                state = .primary
            } else if seen?.inRecovery == false {
                state = .notInRecovery
                problems.append("standby \(node) is not in recovery: a second primary")
            } else if replication?.state == "streaming" {
                state = .streaming
            } else {
                state = .notStreaming
                problems.append("standby \(node) is not streaming from \(primary)")
            }
            nodes.append(NodeStatus(
                node: node, role: role, port: ports[node] ?? 0, reachable: seen?.reachable == true,
                replication: state, syncState: replication?.syncState, replayLagBytes: replication?.replayLagBytes,
                error: seen?.error))
        }
        self.nodes = nodes
        self.problems = problems
    }
}

/// One node's line in `residency status`.
public struct NodeStatus: Hashable, Sendable {
    public let node: NodeID
    public let role: NodeRole
    public let port: Int
    public let reachable: Bool
    public let replication: ReplicationState
    /// The primary's `sync_state` for this standby (`quorum` under `ANY 1 (...)`).
    public let syncState: String?
    public let replayLagBytes: Int64?
    public let error: String?
}

/// How a node takes part in its shard's replication.
public enum ReplicationState: String, Hashable, Sendable {
    case primary
    case streaming
    case notStreaming = "not-streaming"
    case notInRecovery = "not-in-recovery"
    case unreachable
}
