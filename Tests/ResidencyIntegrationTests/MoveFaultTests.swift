import Foundation
import ResidencyChaos
import ResidencyCore
import ResidencyPostgres
import ResidencyRuntime
import Testing

/// Faults at every journaled phase of a move, with a writer running: a power loss of the
/// source primary's zone, of the target primary's zone, and the executor's process killed.
/// Each move must end `retained` (done) or `rolled-back` by itself, with every acknowledged
/// write present exactly once where the tenant lives, no replication object left behind,
/// and a clean residency report once its copy is purged.
extension MoveTests {
    /// The phases a fault hits: from `prepared` through the switch and retention.
    static let faultPhases: [MovePhase] = [.prepared, .copying, .catchingUp, .preVerified, .frozen, .verified, .switched, .retained]

    /// How long a faulted move may take to end by itself, from the fault: the failover
    /// (~1.5 s), the executor's settle wait (15 s at most), a rollback or the rest of the
    /// move, retries with backoff.
    static let faultedMoveBound: Double = 90

    enum Side: String { case source, target }

    /// Cuts the power of the zone holding `shard`'s primary (the coordinator fails it over).
    func losePrimaryZone(of shard: ShardID) throws -> String {
        let zone = try #require(try topology.control().shards().first { $0.shard == shard }?.primary.zone.rawValue)
        let stopped = try topology.residency(["zone", "stop", zone, "--mode", "power-loss"])
        try #require(stopped.status == 0, "\(stopped.text)")
        return zone
    }

    /// Brings `zone` back and waits until every shard is whole again.
    func heal(_ zone: String?) throws {
        guard let zone else { return }
        _ = try topology.residency(["zone", "start", zone])
        #expect(try eventually(90) { try topology.residency(["status"]).status == 0 }, "zone \(zone) rejoined")
    }

    /// Every acknowledged write of `tenant` exactly once on `port`.
    func expectAcknowledgedOnce(_ tenant: String, _ history: [WriteAttempt], on port: Int, _ where: String) throws {
        let acknowledged = history.filter { $0.outcome == .ok }.map(\.id)
        #expect(!acknowledged.isEmpty, "the writer got writes acknowledged")
        let found = try topology.connect(port: port).query(
            "SELECT count(*), count(DISTINCT id) FROM jira.issues WHERE tenant_id = $1 AND id = ANY ($2::uuid[])",
            [tenant, "{" + acknowledged.joined(separator: ",") + "}"]).rows.first
        #expect(found?[0] == String(acknowledged.count) && found?[1] == String(acknowledged.count),
                "\(acknowledged.count) acknowledged writes, found \(found?[0] ?? "?") (\(found?[1] ?? "?") distinct) \(`where`)")
    }

    /// What every faulted move must leave: its end, the writes, no replication objects, and
    /// (after purging a retained copy) no residency finding of the tenant.
    func expectEndedCleanly(_ id: Int64, _ tenant: String, _ history: [WriteAttempt]) throws {
        let move = try #require(try topology.control().move(id))
        #expect([.retained, .rolledBack].contains(move.phase), "move \(id) ended \(move.phase.rawValue): \(move.reason)")
        if move.phase == .retained {
            #expect(try topology.control().tenants().first { $0.id.rawValue == tenant }?.shard == "east-1")
            try expectAcknowledgedOnce(tenant, history, on: try east, "on the target")
            #expect(try eventually(30) { try topology.residency(["move", "purge", String(id)]).status == 0 }, "the retained copy is purged")
            #expect(try rows(tenant, port: try west).filter { $0.key != "app_legacy.records" }.values.allSatisfy { $0 == 0 })
        } else {
            #expect(try topology.control().tenants().first { $0.id.rawValue == tenant }?.shard == "west-1")
            try expectAcknowledgedOnce(tenant, history, on: try west, "on the source")
            #expect(try rows(tenant, port: try east).values.allSatisfy { $0 == 0 }, "nothing left on the target")
            #expect(try !isFrozen(tenant, port: try west))
        }
        #expect(try replicationObjects(port: try west).isEmpty)
        #expect(try replicationObjects(port: try east).isEmpty)
        let report = try topology.residency(["report", "residency", "--json"])
        let flagged = try findings(report.text).filter { $0.tenant == tenant && $0.flagged }
        #expect(flagged.isEmpty, "residency findings of \(tenant): \(flagged)")
    }

    struct Finding: Decodable {
        let tenant: String
        let flagged: Bool
    }

    func findings(_ json: String) throws -> [Finding] {
        struct Document: Decodable { let copies: [Finding] }
        return try JSONDecoder().decode(Document.self, from: Data(json.utf8)).copies
    }

    /// A new tenant on `west` with a writer running, and a leading coordinator (its pid).
    func writingTenantWithCoordinator(_ tenant: String) throws -> (Int32, TenantWriter) {
        try createTenant(tenant)
        let coordinator = try topology.startCoordinator()
        #expect(try topology.waitForLeader())
        let writer = try writer(tenant)
        writer.start()
        return (coordinator, writer)
    }

    @Test(arguments: faultPhases)
    func aSourceZonePowerLossAtAnyPhaseEndsTheMoveByItself(phase: MovePhase) throws {
        try zonePowerLoss(of: .source, at: phase)
    }

    @Test(arguments: faultPhases)
    func aTargetZonePowerLossAtAnyPhaseEndsTheMoveByItself(phase: MovePhase) throws {
        try zonePowerLoss(of: .target, at: phase)
    }

    func zonePowerLoss(of side: Side, at phase: MovePhase) throws {
        let tenant = "\(side.rawValue)-loss-\(phase.rawValue)"
        let (coordinator, writer) = try writingTenantWithCoordinator(tenant)
        defer { topology.stopCoordinator(coordinator) }
        var lostZone: String?
        var faultAt: Date?
        // Right after the executor journals `phase`, before its next step: the zone loses
        // power and the executor runs on into the dying server.
        let executor = try MoveExecutor(layout: try topology.layout) { event in
            guard case let .phase(move) = event, move.phase == phase, lostZone == nil else { return }
            faultAt = Date()
            lostZone = try? losePrimaryZone(of: side == .source ? "west-1" : "east-1")
        }
        let move = try executor.start(try executor.plan(tenant: tenant, to: "r1", region: nil), retentionDays: 7)
        let ended = Date()
        Thread.sleep(forTimeInterval: 0.5)
        let history = writer.stop()
        try #require(lostZone != nil, "the fault fired at \(phase.rawValue)")
        let took = ended.timeIntervalSince(faultAt ?? ended)
        #expect(took < Self.faultedMoveBound, "the move ended \(took) s after the fault")
        print("fault-figure \(side.rawValue)-zone-loss at \(phase.rawValue): ended \(move.phase.rawValue) \(Int(took * 1000)) ms after the fault")
        #expect(move.phase == .retained || move.phase == .rolledBack, "\(move.phase.rawValue): \(move.reason)")
        if side == .source, move.phase == .rolledBack {
            #expect(move.reason.contains("source shard west-1 failed over"), "\(move.reason)")
        }
        if side == .target, phase < .switched, move.phase == .retained {
            // It carried on on the new target primary, and said how.
            let how = phase == .prepared ? "did not exist yet" : "survived"
            #expect(try topology.control().events().contains { $0.kind == "move.target-failed-over" && $0.detail.hasPrefix("move \(move.id) ") && $0.detail.contains(how) },
                    "a move.target-failed-over event saying the subscription \(how)")
        }
        try heal(lostZone)
        try expectEndedCleanly(move.id, tenant, history)
    }

    @Test(arguments: faultPhases)
    func anExecutorKilledAtAnyPhaseIsAdoptedByTheCoordinatorAndTheMoveEnds(phase: MovePhase) throws {
        let tenant = "killed-executor-\(phase.rawValue)"
        let (coordinator, writer) = try writingTenantWithCoordinator(tenant)
        defer { topology.stopCoordinator(coordinator) }
        let killed = try topology.residency(["move", "start", "--tenant", tenant, "--to", "r1"], crashAt: "move.after-\(phase.rawValue)")
        let faultAt = Date()
        #expect(killed.status != 0, "the executor died at move.after-\(phase.rawValue)")
        let id = try #require(try topology.control().moves().last { $0.tenant.rawValue == tenant }?.id)
        // Nobody runs `move resume`: the leading coordinator adopts the move by itself.
        #expect(try eventually(Self.faultedMoveBound) { [.retained, .rolledBack].contains(try topology.control().move(id)?.phase) },
                "move \(id) ended by itself")
        let took = Date().timeIntervalSince(faultAt)
        print("fault-figure executor-killed at \(phase.rawValue): ended \(try topology.control().move(id)?.phase.rawValue ?? "?") \(Int(took * 1000)) ms after the kill")
        if phase < .retained {
            #expect(try topology.control().events().contains { $0.kind == "move.adopted" && $0.detail.hasPrefix("move \(id) ") })
        }
        Thread.sleep(forTimeInterval: 0.5)
        try expectEndedCleanly(id, tenant, writer.stop())
    }

    /// The pre-check's source snapshot waits for commits that wait for their synchronous
    /// standby: the subscription may already have applied them on the target.
    @Test func commitsWaitingForTheirSynchronousStandbyAreWaitedForBeforeTheSourceSnapshot() throws {
        let tenant = "sync-wait"
        try createTenant(tenant)
        let before = try rows(tenant, port: try west)["jira.issues"] ?? -1
        let standbyZones = try topology.nodes().filter { $0.node.shard == "west-1" && $0.role == .standby }.map(\.node.zone.rawValue)
        try #require(standbyZones.count == 2)
        for zone in standbyZones { try #require(try topology.residency(["zone", "stop", zone, "--mode", "partition"]).status == 0) }
        // Both standbys frozen: a commit on the primary is in the WAL and waits in SyncRep.
        let source = try topology.connect(port: try west)
        let committed = Thread { [self] in _ = try? appInsert(tenant, port: try west) }
        committed.start()
        #expect(try eventually(10) {
            try source.query("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'").scalar != "0"
        }, "a commit waits for its synchronous standby")
        #expect(throws: PostgresError.self, "a commit still waiting is seen, and the wait is bounded") {
            try source.waitForCommitsToShow(timeout: .seconds(1), pollEvery: .milliseconds(10))
        }
        for zone in standbyZones { _ = try topology.residency(["zone", "start", zone]) }
        try source.waitForCommitsToShow(timeout: .seconds(20), pollEvery: .milliseconds(10))
        #expect(try rows(tenant, port: try west)["jira.issues"] == before + 1, "once its standby acknowledged, the commit is visible")
        #expect(try eventually(30) { try topology.residency(["status"]).status == 0 })
    }

    @Test func catchUpPastItsLimitRollsBackSayingWhyWithTheRates() throws {
        let tenant = "never-caught-up"
        try createTenant(tenant)
        let writer = try writer(tenant)
        writer.start()
        let executor = try MoveExecutor(layout: try topology.layout)
        // No marker round trip is ever short enough: catch-up cannot converge.
        executor.settings.caughtUpRoundTrip = .zero
        let move = try executor.start(try executor.plan(tenant: tenant, to: "r1", region: nil), retentionDays: 7, catchUpLimit: .seconds(3))
        let history = writer.stop()
        #expect(move.phase == .rolledBack)
        #expect(move.reason.contains("catch-up did not converge within 3 s"), "\(move.reason)")
        #expect(move.reason.contains("the source wrote") && move.reason.contains("the target applied"), "\(move.reason)")
        #expect(move.catchUpLimitMilliseconds == 3000)
        #expect(move.writtenBytesPerSecond != nil && move.appliedBytesPerSecond != nil, "move status shows the rates")
        try expectEndedCleanly(move.id, tenant, history)
    }
}
