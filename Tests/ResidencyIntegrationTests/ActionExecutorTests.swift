import Logging
import ResidencyCore
@testable import ResidencyRuntime
import Testing

/// The effect executor against fakes (no servers): every failed effect comes back to Core
/// as its typed failure event, never as success; a lost lease as `.leaseLost`; nothing is
/// done on a node when the journal write before it fails.
@Suite struct ActionExecutorTests {
    final class FakeControl: CoordinatorControl {
        var leaseHeld = true
        var failWrites = false
        var journal: [String] = []

        func check() throws(RuntimeError) {
            guard leaseHeld else { throw RuntimeError(.notLeader, "lease gone") }
            if failWrites { throw RuntimeError(.unavailable, "control server down") }
        }
        func checkLease(token: Int64) throws(RuntimeError) { try check() }
        func journal(_ operation: ShardOperation, token: Int64) throws(RuntimeError) { try check(); journal.append("journal \(operation.step)") }
        func bumpEpoch(_ operation: ShardOperation, token: Int64) throws(RuntimeError) { try check(); journal.append("epoch") }
        func finish(_ operation: ShardOperation, token: Int64) throws(RuntimeError) { try check() }
        func setNeedsRewind(_ node: NodeID, _ value: Bool, token: Int64) throws(RuntimeError) { try check() }
        func setSynchronousStandbys(_ shard: ShardID, _ standbys: [NodeID], token: Int64) throws(RuntimeError) { try check() }
        func appendEvents(_ entries: [EventEntry]) throws(RuntimeError) {}
        func snapshot() throws(RuntimeError) -> ControlSnapshot { ControlSnapshot(shards: [], needsRewind: [], openOperations: [], heldZones: []) }
        func heldZones() throws(RuntimeError) -> [ZoneID: String] { [:] }
        func coordinatorRequests() throws(RuntimeError) -> [CoordinatorDriver.Request] { [] }
        func answerRequest(_ id: Int64, state: String, answer: String) throws(RuntimeError) {}
    }

    struct FailingNodes: NodeEffects {
        struct Refused: Error {}
        let acted: @Sendable (String) -> Void
        func drain(from old: NodeID, to target: NodeID) throws { acted("drain"); throw RuntimeError(.unavailable, "\(target) did not replay") }
        func setSynchronousStandbys(_ standbys: [NodeID], on primary: NodeID) throws { acted("sync"); throw RuntimeError(.unavailable, "no answer") }
        func repoint(_ standbys: [NodeID], slotsFor members: [NodeID], to primary: NodeID) throws { acted("repoint"); throw Refused() }
        func promote(_ node: NodeID) throws { acted("promote"); throw RuntimeError(.unavailable, "connection refused") }
        func kill(_ node: NodeID) -> Int { acted("kill"); return 0 }
        func stop(_ node: NodeID) throws { acted("stop"); throw Refused() }
        func rejoin(_ node: NodeID, primary: NodeID, rewind: Bool) throws { acted("rejoin"); throw RuntimeError(.unavailable, "pg_rewind failed") }
        func install(_ node: NodeID, standbys: [NodeID], epoch: Int64) throws { acted("install \(node) e\(epoch)"); throw Refused() }
    }

    final class Log: @unchecked Sendable {
        var entries: [String] = []
    }

    let a = NodeID(shard: "s-1", zone: "z-a")
    let b = NodeID(shard: "s-1", zone: "z-b")
    let c = NodeID(shard: "s-1", zone: "z-c")

    func executor(_ control: FakeControl, _ log: Log) -> ActionExecutor {
        ActionExecutor(control: control, nodes: FailingNodes { log.entries.append($0) }, logger: Logger(label: "test"))
    }

    func operation(_ step: ShardOperation.Step, kind: ShardOperation.Kind = .failover) -> ShardOperation {
        ShardOperation(kind: kind, shard: "s-1", from: a, to: b, epoch: 2, standbys: [c], step: step)
    }

    @Test func everyFailedEffectComesBackAsItsFailureEvent() {
        let control = FakeControl()
        let log = Log()
        let run = executor(control, log)
        for step: ShardOperation.Step in [.synchronousStandbys, .repoint, .promote] {
            guard case let .event(.stepFailed(shard, failed, failure)?) = run.execute(.perform(operation(step), token: 1)) else {
                Issue.record("step \(step) did not come back as a failure")
                continue
            }
            #expect(shard == "s-1" && failed == step)
            #expect(failure.kind == (step == .repoint ? .failed : .unreachable))
        }
        guard case .event(.stepFailed(_, .drain, _)?) = run.execute(.perform(operation(.drain, kind: .switchover), token: 1)) else {
            Issue.record("a failed drain came back as success")
            return
        }
        guard case .event(.stepFailed(_, .fence, _)?) = run.execute(.perform(operation(.fence, kind: .switchover), token: 1)) else {
            Issue.record("a failed stop came back as success")
            return
        }
        for step: ShardOperation.Step in [.install, .promote] {
            guard case .event(.stepFailed(_, step, _)?) = run.execute(.perform(operation(step, kind: .restore), token: 1)) else {
                Issue.record("a failed \(step) of a restore came back as success")
                continue
            }
        }
        // A restore's promotion starts the installed primary in place; it never promotes a standby.
        #expect(log.entries.suffix(2) == ["install s-1/z-b e2", "rejoin"])
        #expect(run.execute(.rejoin(c, primary: b, rewind: true, token: 1)) == .event(.rejoinFailed(c, EffectFailure(.unreachable, "pg_rewind failed"))))
        #expect(run.execute(.setSynchronousStandbys(b, standbys: [c], token: 1)) == .event(.synchronousStandbysFailed(b, EffectFailure(.unreachable, "no answer"))))
    }

    @Test func aFenceWhoseJournalWriteFailsIsAFailureAndKillsNothing() {
        let control = FakeControl()
        control.failWrites = true
        let log = Log()
        let outcome = executor(control, log).execute(.fence(a, token: 1))
        #expect(outcome == .event(.fenceFailed(a, EffectFailure(.unreachable, "control server down"))))
        #expect(log.entries.isEmpty)
    }

    @Test func aLostLeaseIsReportedAsSuchAndNothingIsDoneOnANode() {
        let control = FakeControl()
        control.leaseHeld = false
        let log = Log()
        let run = executor(control, log)
        #expect(run.execute(.perform(operation(.promote), token: 1)) == .leaseLost)
        for step in ShardOperation.Step.order(for: .restore) {
            #expect(run.execute(.perform(operation(step, kind: .restore), token: 1)) == .leaseLost)
        }
        #expect(run.execute(.rejoin(c, primary: b, rewind: false, token: 1)) == .leaseLost)
        #expect(run.execute(.fence(a, token: 1)) == .leaseLost)
        #expect(log.entries.isEmpty)
        #expect(control.journal.isEmpty)
    }
}
