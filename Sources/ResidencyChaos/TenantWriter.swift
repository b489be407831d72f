import Foundation
import ResidencyCore
import ResidencyPostgres
import Synchronization

/// Writes rows for one tenant as fast as it can, one at a time, through the tenant's
/// multi-host connection string (so it follows failovers as any libpq client would), and
/// records every attempt. Each statement has a deadline; a statement past it, or one whose
/// connection broke, has an unknown outcome.
public final class TenantWriter: Sendable {
    public var connectionString: String { current.withLock { $0 } }
    public let tenant: TenantID
    /// Asked for a new connection string when the tenant's writes are refused by the write
    /// fence (the tenant is moving): an application re-reads its routing the same way.
    let relocate: (@Sendable () -> String?)?
    private let current: Mutex<String>
    public let attemptDeadline: Duration
    /// Pause after a failed attempt, so a dead shard is not hammered.
    public let retryPause: Duration
    /// Pause after each write (0: as fast as the server acknowledges).
    public let writePause: Duration

    private let attempts = Mutex<[WriteAttempt]>([])
    private let stopped = Mutex<Bool>(false)
    private let finished = Mutex<Bool>(false)

    public init(connectionString: String, tenant: TenantID, attemptDeadline: Duration = .seconds(1), retryPause: Duration = .milliseconds(20),
                writePause: Duration = .zero, relocate: (@Sendable () -> String?)? = nil) {
        current = Mutex(connectionString)
        self.relocate = relocate
        self.tenant = tenant
        self.attemptDeadline = attemptDeadline
        self.retryPause = retryPause
        self.writePause = writePause
    }

    /// The row each attempt inserts; `RETURNING` names the node that acknowledged it.
    static let insert = """
        INSERT INTO jira.issues (tenant_id, id, key, summary) VALUES ($1, $2::uuid, 'W-' || $3, 'workload')
        RETURNING current_setting('cluster_name')
        """

    public func start() {
        let thread = Thread { [self] in
            self.loop()
            self.finished.withLock { $0 = true }
        }
        thread.name = "writer \(tenant)"
        thread.start()
    }

    /// Stops after the attempt in progress and returns every attempt, oldest first.
    public func stop() -> [WriteAttempt] {
        stopped.withLock { $0 = true }
        while !finished.withLock({ $0 }) { usleep(5_000) }
        return history
    }

    public var history: [WriteAttempt] { attempts.withLock { $0 } }

    private func loop() {
        var connection: Connection?
        var sequence = 0
        while !stopped.withLock({ $0 }) {
            sequence += 1
            let id = UUID().uuidString.lowercased()
            let invoked = ContinuousClock.now
            if connection == nil {
                connection = try? Connection(connectionString: current.withLock { $0 }, address: "tenant \(tenant)")
            }
            guard let live = connection else {
                record(WriteAttempt(id: id, invokedAt: invoked, completedAt: .now, outcome: .failed, acknowledgedBy: nil, error: "no read-write server"))
                Thread.sleep(forTimeInterval: retryPause.inSeconds)
                continue
            }
            do {
                let node = try live.query(Self.insert, [tenant.rawValue, id, String(sequence)], deadline: invoked + attemptDeadline).scalar
                let cancelled = live.takeNotices().contains(where: \.cancelsSynchronousWait)
                record(WriteAttempt(id: id, invokedAt: invoked, completedAt: .now, outcome: cancelled ? .unknown : .ok,
                                    acknowledgedBy: cancelled ? nil : node, error: cancelled ? "wait for synchronous replication cancelled" : nil))
                if writePause > .zero { Thread.sleep(forTimeInterval: writePause.inSeconds) }
            } catch {
                // A statement error before commit (read-only, fenced) failed; anything that
                // broke the connection or ran out of time may have committed.
                let outcome: WriteAttempt.Outcome = error.kind == .statement ? .failed : .unknown
                record(WriteAttempt(id: id, invokedAt: invoked, completedAt: .now, outcome: outcome, acknowledgedBy: nil, error: error.description))
                connection = nil
                if error.sqlState == TenantSchema.frozenTenantState, let relocate, let moved = relocate() {
                    current.withLock { $0 = moved }
                }
                Thread.sleep(forTimeInterval: retryPause.inSeconds)
            }
        }
    }

    private func record(_ attempt: WriteAttempt) {
        attempts.withLock { $0.append(attempt) }
    }
}
