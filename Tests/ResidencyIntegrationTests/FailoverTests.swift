import Foundation
import ResidencyChaos
import ResidencyCore
import ResidencyPostgres
import ResidencyRuntime
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The coordinator against real servers: zones lost by power and by partition, cascading
/// loss, coordinators killed mid-failover, leadership changes. Every test leaves the
/// topology whole again.
@Suite(.serialized) struct FailoverTests {
    let topology: TestTopology
    let left: ShardID = "left-1"
    let right: ShardID = "right-1"

    init() throws { topology = try FailoverTopology.get() }

    /// Brings a zone back and waits until every shard is whole.
    func restore(_ zone: ZoneID) throws {
        _ = try topology.zoneFaults().start(zone)
        #expect(try topology.waitHealthy(), "the topology did not become whole again after zone start \(zone)")
    }

    @Test func theCoordinatorActsOnNodesAsItsOwnRoleNeverAsTheSuperuser() throws {
        let coordinator = try topology.startCoordinator()
        defer { topology.stopCoordinator(coordinator) }
        #expect(try topology.waitForLeader())
        let primary = try topology.shard(left).primary
        let connection = try topology.connect(port: try topology.port(primary))
        let probes = try connection.query("SELECT DISTINCT usename FROM pg_stat_activity WHERE application_name = 'residency-probe'").rows
        #expect(probes == [["residency_coordinator"]])
        // Its control-store sessions: the control role.
        let control = try Connection(ConnectionSettings(port: try topology.layout.controlPort, database: "residency", user: LocalNodeManager.superuser,
                                                        passfile: try topology.layout.passfile))
        #expect(try control.query("SELECT count(*) FROM pg_stat_activity WHERE datname = 'residency' AND usename = $1", [LocalNodeManager.superuser]).scalar == "1",
                "only this check's own session is the superuser's")
        #expect(try control.query("SELECT count(*) > 0 FROM pg_stat_activity WHERE usename = 'residency_control'").scalar == "t")
    }

    @Test func zonePowerLossFailsOverInsideTheRegionAndLosesNoAcknowledgedWrite() throws {
        // A base backup before the fault: the archive must carry recovery across the failover.
        let backup = try topology.residency(["backup", "take", "--shard", left.rawValue])
        #expect(backup.status == 0, "\(backup.text)")
        let coordinator = try topology.startCoordinator()
        defer { topology.stopCoordinator(coordinator) }
        #expect(try topology.waitForLeader())
        let before = try topology.shard(left)
        let otherRegion = try topology.shard(right)
        let writer = try topology.writer("wayne")
        writer.start()
        usleep(1_000_000)
        _ = try topology.zoneFaults().stop(before.primary.zone, mode: .powerLoss)
        #expect(try eventually(15) { try topology.shard(left).primary != before.primary })
        usleep(1_500_000)
        let history = writer.stop()
        let after = try topology.shard(left)
        #expect(after.epoch == before.epoch + 1)
        #expect(after.primary.shard == left && after.primary != before.primary)
        #expect(TopologyExampleRegion.of(after.primary) == "left", "promoted outside the region")
        #expect(try topology.shard(right) == otherRegion, "the other region's shard changed")
        let acknowledgedAfter = history.filter { $0.outcome == .ok && $0.acknowledgedBy == after.primary.description }
        #expect(!acknowledgedAfter.isEmpty, "writes did not resume on the new primary")
        #expect(try topology.missingAcknowledged(history, shard: left).isEmpty)
        try restore(before.primary.zone)
        #expect(try topology.answeringPrimaries(left) == [after.primary])

        // The WAL archive stayed continuous across the failover, new timeline included: a
        // point-in-time restore from the backup taken before it holds every write the new
        // primary acknowledged.
        let target = String(format: "@%.6f", Date().timeIntervalSince1970)
        let restored = try topology.residency(["backup", "restore", "--shard", left.rawValue, "--to-time", target, "--json"])
        #expect(restored.status == 0, "\(restored.text)")
        struct Restored: Decodable { struct Server: Decodable { let server: String; let port: Int }; let restored: Server }
        if let start = restored.text.firstIndex(of: "{"), let server = try? JSONDecoder().decode(Restored.self, from: Data(restored.text[start...].utf8)).restored {
            defer { _ = try? topology.residency(["backup", "discard", server.server]) }
            let ids = "{" + acknowledgedAfter.map(\.id).joined(separator: ",") + "}"
            let found = try topology.connect(port: server.port).query("SELECT count(*) FROM jira.issues WHERE id = ANY($1::uuid[])", [ids]).scalar
            #expect(found == String(Set(acknowledgedAfter.map(\.id)).count), "writes acknowledged on the new timeline missing from the restore")
            #expect(try topology.connect(port: server.port).query("SELECT timeline_id FROM pg_control_checkpoint()").scalar != "1")
        }
    }

    @Test func cascadingZoneLossPromotesTheLastZoneAndLosesNoAcknowledgedWrite() throws {
        let coordinator = try topology.startCoordinator()
        defer { topology.stopCoordinator(coordinator) }
        #expect(try topology.waitForLeader())
        let first = try topology.shard(left)
        let writer = try topology.writer("wayne")
        writer.start()
        usleep(800_000)
        _ = try topology.zoneFaults().stop(first.primary.zone, mode: .powerLoss)
        #expect(try eventually(15) { try topology.shard(left).primary != first.primary })
        let second = try topology.shard(left)
        usleep(3_000_000)  // a few seconds of writes on the second primary, acknowledged through the last zone only
        _ = try topology.zoneFaults().stop(second.primary.zone, mode: .powerLoss)
        #expect(try eventually(15) { try topology.shard(left).primary != second.primary })
        usleep(1_000_000)
        let history = writer.stop()
        let last = try topology.shard(left)
        #expect(last.epoch == first.epoch + 2)
        #expect(![first.primary, second.primary].contains(last.primary))
        #expect(history.contains { $0.outcome == .ok && $0.acknowledgedBy == second.primary.description })
        #expect(try topology.missingAcknowledged(history, shard: left).isEmpty, "an acknowledged write was lost")
        // The last primary names the lost zones as its synchronous standbys: it acknowledges
        // nothing alone until one of them is back.
        #expect(!history.contains { $0.outcome == .ok && $0.acknowledgedBy == last.primary.description })
        _ = try topology.zoneFaults().start(first.primary.zone)
        try restore(second.primary.zone)
    }

    @Test func aPartitionedPrimaryAcknowledgesNothingAfterItsSuccessorsPromotionAndRejoinsAsAStandby() throws {
        let coordinator = try topology.startCoordinator()
        defer { topology.stopCoordinator(coordinator) }
        #expect(try topology.waitForLeader())
        let before = try topology.shard(left)
        let writer = try topology.writer("wayne")
        writer.start()
        usleep(800_000)
        _ = try topology.zoneFaults().stop(before.primary.zone, mode: .partition)
        #expect(try eventually(15) { try topology.shard(left).primary != before.primary })
        let promotedAt = ContinuousClock.now
        usleep(4_000_000)
        _ = try topology.zoneFaults().start(before.primary.zone)
        usleep(1_000_000)
        let history = writer.stop()
        let acknowledgedByOld = history.filter { $0.outcome == .ok && $0.acknowledgedBy == before.primary.description && $0.completedAt > promotedAt }
        #expect(acknowledgedByOld.isEmpty, "the former primary acknowledged writes after its successor's promotion")
        #expect(try topology.missingAcknowledged(history, shard: left).isEmpty)
        #expect(try topology.waitHealthy())
        let after = try topology.shard(left)
        #expect(try topology.answeringPrimaries(left) == [after.primary])
        let status = try topology.residency(["status", "--json"]).text
        #expect(status.contains("\"node\" : \"\(before.primary)\""))
    }

    @Test(arguments: ["epoch", "synchronous-standbys", "repoint", "promote", "fence"])
    func aCoordinatorKilledAtAFailoverStepResumesOnRestartWithExactlyOnePrimary(step: String) throws {
        let before = try topology.shard(left)
        let crashing = try topology.startCoordinator(crashAt: "coordinator.after-\(step)")
        #expect(try topology.waitForLeader())
        _ = try topology.zoneFaults().stop(before.primary.zone, mode: .powerLoss)
        let died = eventually(15) { !LocalNodeManager.isAlive(crashing) }
        topology.stopCoordinator(crashing)
        #expect(died, "the coordinator did not reach crash point coordinator.after-\(step)")
        let open = try topology.control().openOperations()
        #expect(open.map(\.shard) == [left], "the journal holds the interrupted failover")
        let successor = try topology.startCoordinator()
        defer { topology.stopCoordinator(successor) }
        #expect(try eventually(20) { try topology.control().openOperations().isEmpty }, "the failover did not complete")
        let after = try topology.shard(left)
        #expect(after.epoch == before.epoch + 1)
        #expect(try topology.answeringPrimaries(left) == [after.primary])
        try restore(before.primary.zone)
        #expect(try topology.answeringPrimaries(left) == [after.primary])
    }

    @Test func aSecondCoordinatorStaysPassiveAndTakesOverWhenTheFirstIsFrozen() throws {
        let first = try topology.startCoordinator()
        defer { topology.stopCoordinator(first) }
        // A previous test's coordinator may hold an unexpired lease for up to its TTL.
        #expect(try eventually(10) { try topology.control().leaseHolder()?.holder.contains(":\(first):") == true })
        let firstHolder = try topology.control().leaseHolder()?.holder
        let second = try topology.startCoordinator()
        defer { topology.stopCoordinator(second) }
        usleep(1_500_000)
        #expect(try topology.control().leaseHolder()?.holder == firstHolder, "the second coordinator took the lease from a live holder")
        kill(first, SIGSTOP)
        #expect(try eventually(10) { try topology.control().leaseHolder()?.holder.contains(":\(second):") == true },
                "the second coordinator did not take over")
        // The thawed first coordinator finds its lease gone and acts on no node.
        let epochs = try topology.control().shards().map(\.epoch)
        kill(first, SIGCONT)
        usleep(1_500_000)
        #expect(try topology.control().leaseHolder()?.holder.contains(":\(second):") == true)
        #expect(try topology.control().shards().map(\.epoch) == epochs)
    }

    @Test func aShortFreezeOfThePrimaryCausesNoFailover() throws {
        let coordinator = try topology.startCoordinator()
        defer { topology.stopCoordinator(coordinator) }
        #expect(try topology.waitForLeader())
        usleep(1_000_000)
        let before = try topology.shard(left)
        let manager = try LocalTopology.nodeManager(topology.layout)
        manager.signalAll(before.primary.fileName, SIGSTOP)
        usleep(300_000)
        manager.signalAll(before.primary.fileName, SIGCONT)
        usleep(2_500_000)
        #expect(try topology.shard(left) == before)
        // Only this shard's events: another shard's earlier failover may carry the same epoch number.
        #expect(!(try topology.control().events(limit: 20)).contains {
            $0.kind == "failover.started" && $0.shard == left.rawValue && $0.epoch == before.epoch + 1
        })
    }

    @Test func switchoverSwapsRolesWithoutLosingAnAcknowledgedWrite() throws {
        let coordinator = try topology.startCoordinator()
        defer { topology.stopCoordinator(coordinator) }
        #expect(try topology.waitForLeader())
        #expect(try topology.waitHealthy())
        let before = try topology.shard(right)
        let target = try topology.nodes().first { $0.node.shard == right && $0.role == .standby }!.node
        let writer = try topology.writer("stark")
        writer.start()
        usleep(800_000)
        let result = try topology.residency(["switchover", right.rawValue, "--to", target.zone.rawValue])
        usleep(1_000_000)
        let history = writer.stop()
        #expect(result.status == 0, "\(result.text)")
        let after = try topology.shard(right)
        #expect(after.primary == target)
        #expect(after.epoch == before.epoch + 1)
        #expect(history.contains { $0.outcome == .ok && $0.acknowledgedBy == target.description })
        #expect(try topology.missingAcknowledged(history, shard: right).isEmpty)
        #expect(try topology.waitHealthy(), "the old primary did not rejoin as a standby")
        #expect(try topology.answeringPrimaries(right) == [target])
    }

    @Test func aStaleLeaseTokenCanJournalNothing() throws {
        #expect(try eventually(10) { try topology.control().leaseHolder() == nil }, "no coordinator may run during this test")
        let control = try topology.control()
        guard let stale = try control.acquireLease(holder: "test-a", ttl: .milliseconds(200)) else {
            Issue.record("could not take the lease")
            return
        }
        usleep(300_000)
        let fresh = try control.acquireLease(holder: "test-b", ttl: .seconds(1))
        #expect(fresh == stale + 1)
        let before = try topology.shard(left)
        let operation = ShardOperation(kind: .failover, shard: left, from: before.primary, to: before.primary, epoch: before.epoch + 1, standbys: [], step: .epoch)
        #expect(throws: RuntimeError.self) { try control.journal(operation, token: stale) }
        #expect(throws: RuntimeError.self) { try control.bumpEpoch(operation, token: stale) }
        #expect(throws: RuntimeError.self) { try control.checkLease(token: stale) }
        #expect(try topology.shard(left) == before)
        try control.releaseLease(token: fresh!)
    }

    @Test func conninfoNamesTheShardsNodesPrimaryFirstAndTheTenantsOwnRoleAndPassfile() throws {
        let result = try topology.residency(["conninfo", "--tenant", "stark"])
        #expect(result.status == 0)
        let primary = try topology.shard(right).primary
        let ports = try topology.nodes().filter { $0.node.shard == right }
        #expect(result.text.contains("port='\(try topology.port(primary)),"))
        #expect(ports.allSatisfy { result.text.contains(String($0.port)) })
        #expect(result.text.contains("target_session_attrs='read-write'"))
        #expect(result.text.contains("user='tenant-stark'"))
        let passfile = TenantCredentials(layout: try topology.layout).passfile(of: TenantID(validating: "stark")!)
        #expect(result.text.contains("passfile='\(passfile)'"))
        #expect(!result.text.contains("options="))
        #expect(try topology.residency(["conninfo", "--tenant", "nobody"]).status == 65)
        let connection = try Connection(connectionString: result.text.trimmingCharacters(in: .whitespacesAndNewlines), address: "conninfo")
        #expect(try connection.query("SELECT residency.current_tenant()").scalar == "stark")
        #expect(try connection.query("SELECT pg_is_in_recovery()").scalar == "f")
    }
}

/// The region of a node of the failover topology (`left-1/left-b` -> `left`).
enum TopologyExampleRegion {
    static func of(_ node: NodeID) -> String { String(node.zone.rawValue.split(separator: "-").first ?? "") }
}
