import Foundation
import ResidencyCore
import ResidencyPostgres
import Synchronization

/// Probes every node continuously, each on a thread of its own with a connection it
/// keeps: every `interval`, one query under a deadline the prober enforces itself
/// (non-blocking libpq), so a frozen server costs a probe its deadline and nothing more.
final class NodeProber: Sendable {
    struct Result: Sendable {
        let node: NodeID
        let probe: NodeProbe
        let at: ContinuousClock.Instant
    }

    private let targets: [(NodeID, ConnectionSettings)]
    private let interval: Duration
    private let deadline: Duration
    private let results = Mutex<[Result]>([])
    private let stopped = Mutex<Bool>(false)

    init(targets: [(NodeID, ConnectionSettings)], interval: Duration, deadline: Duration) {
        self.targets = targets
        self.interval = interval
        self.deadline = deadline
    }

    func start() {
        for (node, settings) in targets {
            let thread = Thread { [self] in self.loop(node, settings) }
            thread.name = "probe \(node)"
            thread.start()
        }
    }

    func stop() { stopped.withLock { $0 = true } }

    /// The results since the last call, oldest first.
    func drain() -> [Result] {
        results.withLock { pending in
            defer { pending.removeAll() }
            return pending
        }
    }

    private func loop(_ node: NodeID, _ settings: ConnectionSettings) {
        var connection: Connection?
        while !stopped.withLock({ $0 }) {
            let started = ContinuousClock.now
            let deadline = started + self.deadline
            var probe = NodeProbe.unreachable
            do throws(PostgresError) {
                if connection == nil { connection = try Connection(settings, deadline: deadline) }
                if let row = try connection?.query(ReplicationAdmin.probeQuery, deadline: deadline).rows.first {
                    probe = .reachable(ReplicationAdmin.report(row))
                }
            } catch {
                connection = nil
            }
            let result = Result(node: node, probe: probe, at: ContinuousClock.now)
            results.withLock { $0.append(result) }
            let next = started + interval
            let pause = next - ContinuousClock.now
            if pause > .zero { Thread.sleep(forTimeInterval: pause.inSeconds) }
        }
    }
}
