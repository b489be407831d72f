import ResidencyCore

/// One write of the workload, as the client saw it.
public struct WriteAttempt: Hashable, Sendable {
    public enum Outcome: String, Hashable, Sendable {
        /// Committed and acknowledged.
        case ok
        /// Refused before it could commit (no connection, an error before COMMIT).
        case failed
        /// It may or may not have committed: the connection broke during the statement,
        /// the deadline passed, or the server cancelled the wait for synchronous replication.
        case unknown
    }

    /// The client-chosen unique id of the row.
    public let id: String
    public let invokedAt: ContinuousClock.Instant
    public let completedAt: ContinuousClock.Instant
    public let outcome: Outcome
    /// The node that acknowledged it (`cluster_name`, reported by the server in the same statement).
    public let acknowledgedBy: String?
    public let error: String?
}
