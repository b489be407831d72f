/// What one look at a node found. Produced by Runtime's probes; judged by `ShardStatus`.
public struct NodeObservation: Hashable, Sendable {
    public let node: NodeID
    public let reachable: Bool
    /// `pg_is_in_recovery()`; `nil` when unreachable.
    public let inRecovery: Bool?
    /// Why it was unreachable, without secrets.
    public let error: String?
    /// On a primary: its view of each standby (`pg_stat_replication`), by `application_name`.
    public let standbys: [StandbyReplication]

    public init(node: NodeID, reachable: Bool, inRecovery: Bool?, error: String? = nil, standbys: [StandbyReplication] = []) {
        self.node = node
        self.reachable = reachable
        self.inRecovery = inRecovery
        self.error = error
        self.standbys = standbys
    }
}

/// One row of a primary's `pg_stat_replication`.
public struct StandbyReplication: Hashable, Sendable {
    /// The standby's `application_name` (`NodeID.postgresName`).
    public let applicationName: String
    /// `streaming`, `catchup`, `startup`, ...
    public let state: String
    /// `quorum`, `sync`, `async`, `potential`.
    public let syncState: String
    /// The primary's current WAL position minus the standby's replay position.
    public let replayLagBytes: Int64?

    public init(applicationName: String, state: String, syncState: String, replayLagBytes: Int64?) {
        self.applicationName = applicationName
        self.state = state
        self.syncState = syncState
        self.replayLagBytes = replayLagBytes
    }
}
