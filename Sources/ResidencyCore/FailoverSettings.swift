/// How the coordinator watches nodes and paces its effects. Defaults meet the RTO goal
/// (median <= 1.5 s). The first three come from `regions/topology.yaml`; the rest are the
/// coordinator's own pacing, set here (and by tests and the simulator).
public struct FailoverSettings: Hashable, Sendable, Codable {
    /// Time between two probes of one node.
    public var probeInterval: Duration
    /// A probe that has not answered by then counts as unreachable.
    public var probeDeadline: Duration
    /// A primary unreachable for this long is failed.
    public var failoverAfter: Duration
    /// How long a node must stay unreachable before the coordinator restarts it.
    public var rejoinAfter: Duration
    /// Pause between two attempts at the same failing step, rejoin, fence or
    /// synchronous-set change.
    public var retryPause: Duration
    /// How long a promotion must have stayed refused before the primary is restarted in
    /// place: a refusal can be transient (a standby's probe is late), and a primary
    /// restarted while a promotion is about to happen would be a former primary at once.
    public var restartInPlaceAfter: Duration
    /// At most this many shards' steps (failover, switchover, fencing, synchronous sets) run
    /// at once; each shard's steps stay in order. Steps are mostly waits on the network and
    /// on PostgreSQL, so this is sized above the core count.
    public var effectConcurrency: Int
    /// At most this many rejoins (restart, pg_rewind, base backup: the heavy effects) run at
    /// once, on slots of their own: a wave of rejoins never holds back a failover.
    public var rejoinConcurrency: Int
    /// A node whose rejoins keep failing is tried again after `retryPause`, then twice as
    /// long after each further failure, never longer than this. A zone where no node
    /// answers is tried through one node at a time on the same backoff (a dead zone of a
    /// thousand nodes is not restarted a thousand times a second).
    public var rejoinBackoffMax: Duration

    public init(
        probeInterval: Duration = .milliseconds(200),
        probeDeadline: Duration = .milliseconds(400),
        failoverAfter: Duration = .milliseconds(1000),
        rejoinAfter: Duration = .seconds(1),
        retryPause: Duration = .seconds(1),
        restartInPlaceAfter: Duration = .seconds(5),
        effectConcurrency: Int = 8,
        rejoinConcurrency: Int = 2,
        rejoinBackoffMax: Duration = .seconds(30)
    ) {
        precondition(effectConcurrency >= 1 && rejoinConcurrency >= 1, "at least one effect of each kind must be able to run")
        self.probeInterval = probeInterval
        self.probeDeadline = probeDeadline
        self.failoverAfter = failoverAfter
        self.rejoinAfter = rejoinAfter
        self.retryPause = retryPause
        self.restartInPlaceAfter = restartInPlaceAfter
        self.effectConcurrency = effectConcurrency
        self.rejoinConcurrency = rejoinConcurrency
        self.rejoinBackoffMax = rejoinBackoffMax
    }

    /// The pause after the `failures`-th failed rejoin in a row (of a node, or of a zone
    /// where nothing answers): `retryPause`, doubled per further failure, capped at `rejoinBackoffMax`.
    public func rejoinPause(afterFailures failures: Int) -> Duration {
        var pause = retryPause
        for _ in 1..<max(1, failures) {
            pause *= 2
            if pause >= rejoinBackoffMax { return max(retryPause, rejoinBackoffMax) }
        }
        return pause
    }

    /// The effects that may run at once, of both kinds.
    public var totalConcurrency: Int { effectConcurrency + rejoinConcurrency }

    private enum CodingKeys: String, CodingKey {
        case probeInterval, probeDeadline, failoverAfter, rejoinAfter, retryPause, restartInPlaceAfter, effectConcurrency, rejoinConcurrency, rejoinBackoffMax
    }

    /// Topologies recorded by older versions hold only the first three settings.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = FailoverSettings()
        probeInterval = try container.decode(Duration.self, forKey: .probeInterval)
        probeDeadline = try container.decode(Duration.self, forKey: .probeDeadline)
        failoverAfter = try container.decode(Duration.self, forKey: .failoverAfter)
        rejoinAfter = try container.decodeIfPresent(Duration.self, forKey: .rejoinAfter) ?? defaults.rejoinAfter
        retryPause = try container.decodeIfPresent(Duration.self, forKey: .retryPause) ?? defaults.retryPause
        restartInPlaceAfter = try container.decodeIfPresent(Duration.self, forKey: .restartInPlaceAfter) ?? defaults.restartInPlaceAfter
        effectConcurrency = max(1, try container.decodeIfPresent(Int.self, forKey: .effectConcurrency) ?? defaults.effectConcurrency)
        rejoinConcurrency = max(1, try container.decodeIfPresent(Int.self, forKey: .rejoinConcurrency) ?? defaults.rejoinConcurrency)
        rejoinBackoffMax = try container.decodeIfPresent(Duration.self, forKey: .rejoinBackoffMax) ?? defaults.rejoinBackoffMax
    }
}
