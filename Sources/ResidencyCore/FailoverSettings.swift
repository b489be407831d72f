/// How the coordinator watches nodes. Defaults meet the RTO goal (median <= 1.5 s).
public struct FailoverSettings: Hashable, Sendable, Codable {
    /// Time between two probes of one node.
    public var probeInterval: Duration
    /// A probe that has not answered by then counts as unreachable.
    public var probeDeadline: Duration
    /// A primary unreachable for this long is failed.
    public var failoverAfter: Duration

    public init(
        probeInterval: Duration = .milliseconds(200),
        probeDeadline: Duration = .milliseconds(400),
        failoverAfter: Duration = .milliseconds(1000)
    ) {
        self.probeInterval = probeInterval
        self.probeDeadline = probeDeadline
        self.failoverAfter = failoverAfter
    }
}
