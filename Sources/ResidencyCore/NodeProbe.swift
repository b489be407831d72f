/// One probe's answer about a node, as the coordinator's probes report it.
public enum NodeProbe: Hashable, Sendable {
    /// The probe got no answer by its deadline (refused, dead, or frozen).
    case unreachable
    case reachable(NodeReport)
}

/// What a reachable node said about itself.
public struct NodeReport: Hashable, Sendable {
    public var inRecovery: Bool
    /// A standby's `pg_last_wal_receive_lsn()`: WAL flushed to its disk. What a synchronous
    /// commit waited for, so the standby with the highest holds every acknowledged commit.
    public var receivedLSN: LSN?
    /// A primary's `pg_current_wal_lsn()`.
    public var currentLSN: LSN?
    /// A standby's WAL receiver: the port it streams from, when streaming.
    public var upstreamPort: Int?
    /// A standby's WAL receiver: time since it last heard from its upstream.
    public var sinceUpstreamMessage: Duration?

    public init(inRecovery: Bool, receivedLSN: LSN? = nil, currentLSN: LSN? = nil, upstreamPort: Int? = nil, sinceUpstreamMessage: Duration? = nil) {
        self.inRecovery = inRecovery
        self.receivedLSN = receivedLSN
        self.currentLSN = currentLSN
        self.upstreamPort = upstreamPort
        self.sinceUpstreamMessage = sinceUpstreamMessage
    }
}
