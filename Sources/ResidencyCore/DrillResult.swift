/// Everything a drill found: the checker's findings, the SLA per tenant, the verdict, and
/// the figures the reports draw (acknowledged writes per second per shard, faults,
/// promotions). Kept in the state directory and rendered by ResidencyReport.
public struct DrillResult: Sendable {
    public let scenario: Scenario
    public let startedAtMs: Int64
    public let finishedAtMs: Int64
    public let writes: (ok: Int, failed: Int, unknown: Int)
    public let checker: HistoryChecker
    public let history: DrillHistory
    public let sla: [SLAResult]
    public let verdict: DrillVerdict
    /// Per shard: acknowledged writes in each second since `startedAtMs`.
    public let acknowledgedPerSecond: [ShardID: [Int]]
    /// Seconds the whole drill took, boot and convergence included.
    public let wallSeconds: Double

    public init(scenario: Scenario, startedAtMs: Int64, finishedAtMs: Int64, writes: (ok: Int, failed: Int, unknown: Int), checker: HistoryChecker,
                history: DrillHistory, sla: [SLAResult], verdict: DrillVerdict, acknowledgedPerSecond: [ShardID: [Int]], wallSeconds: Double) {
        self.scenario = scenario
        self.startedAtMs = startedAtMs
        self.finishedAtMs = finishedAtMs
        self.writes = writes
        self.checker = checker
        self.history = history
        self.sla = sla
        self.verdict = verdict
        self.acknowledgedPerSecond = acknowledgedPerSecond
        self.wallSeconds = wallSeconds
    }
}
