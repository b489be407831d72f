import Foundation
import Synchronization
import ResidencyChaos
import ResidencyCore
import ResidencyPostgres
import ResidencyRuntime
import Testing

/// Residency moves against real servers: region `west` (realm r0) to `east` (realm r1);
/// realm `all` spans both.
@Suite(.serialized) struct MoveTests {
    static let shared = TestTopology.shared(regions: ["west", "east"], tenants: [])
    let topology: TestTopology

    init() throws { topology = try Self.shared.get() }

    var west: Int { get throws { try primaryPort("west-1") } }
    var east: Int { get throws { try primaryPort("east-1") } }

    func primaryPort(_ shard: String) throws -> Int {
        guard let port = try topology.nodes().first(where: { $0.role == .primary && $0.node.shard == ShardID(shard) })?.port else {
            throw TestError("no primary of \(shard)")
        }
        return port
    }

    func createTenant(_ name: String, realm: String = "all", region: String = "west", apps: [String] = ["tempo", "legacy"]) throws {
        let created = try topology.residency(["tenant", "create", name, "--realm", realm, "--region", region,
                                              "--apps"] + apps + ["--demo-rows", "300"])
        guard created.status == 0 else { throw TestError("tenant create \(name): \(created.text)") }
    }

    /// The tenant's rows on `port`, per moving table (products and the eligible app).
    func rows(_ tenant: String, port: Int) throws -> [String: Int] {
        let connection = try topology.connect(port: port)
        var counts: [String: Int] = [:]
        for table in ["jira.issues", "jira.comments", "confluence.spaces", "confluence.pages", "app_tempo.records", "app_legacy.records"] {
            counts[table] = Int(try connection.query("SELECT count(*) FROM \(table) WHERE tenant_id = $1", [tenant]).scalar ?? "") ?? -1
        }
        return counts
    }

    /// Publications, subscriptions and slots of moves on `port`.
    func replicationObjects(port: Int) throws -> [String] {
        try topology.connect(port: port).query("""
            SELECT 'publication ' || pubname FROM pg_publication WHERE pubname LIKE 'residency_move_%'
            UNION ALL SELECT 'subscription ' || subname FROM pg_subscription WHERE subname LIKE 'residency_move_%'
            UNION ALL SELECT 'slot ' || slot_name FROM pg_replication_slots WHERE slot_name LIKE 'residency_move_%'
            """).rows.map { $0[0] ?? "" }
    }

    func isFrozen(_ tenant: String, port: Int) throws -> Bool {
        try topology.connect(port: port).query("SELECT 1 FROM residency.frozen_tenants WHERE tenant_id = $1", [tenant]).rows.isEmpty == false
    }

    func writer(_ tenant: String) throws -> TenantWriter {
        let layout = try topology.layout
        let id = TenantID(validating: tenant)!
        let connection = try TenantConnection.connectionString(for: id, control: try topology.control(), layout: layout)
        return TenantWriter(connectionString: connection, tenant: id, writePause: .milliseconds(5)) {
            guard let control = try? ControlStore(layout: layout) else { return nil }
            return try? TenantConnection.connectionString(for: id, control: control, layout: layout)
        }
    }

    func appInsert(_ tenant: String, port: Int, table: String = "jira.issues") throws {
        let connection = try TenantCredentials(layout: topology.layout).connect(TenantID(validating: tenant)!, port: port)
        if table == "jira.issues" {
            try connection.query("INSERT INTO jira.issues (tenant_id, key, summary) VALUES ($1, 'X-1', 'probe')", [tenant])
        } else {
            try connection.query("INSERT INTO \(table) (tenant_id, kind) VALUES ($1, 'probe')", [tenant])
        }
    }

    @Test func aMoveUnderWritersPutsEveryRowAndAcknowledgedWriteOnTheTargetAndRetainsAFrozenSource() throws {
        try createTenant("mover")
        try createTenant("neighbour", realm: "r0")
        let sourceBefore = try rows("mover", port: west)
        let movers = try writer("mover")
        let neighbours = try writer("neighbour")
        movers.start()
        neighbours.start()
        Thread.sleep(forTimeInterval: 0.5)
        let moved = try topology.residency(["move", "start", "--tenant", "mover", "--to", "r1", "--json"])
        Thread.sleep(forTimeInterval: 0.5)
        let moverHistory = movers.stop()
        let neighbourHistory = neighbours.stop()
        try #require(moved.status == 0, "move start: \(moved.text)")

        // Every acknowledged write is on the target exactly once, also those acknowledged by the source before the freeze.
        let acknowledged = moverHistory.filter { $0.outcome == .ok }.map(\.id)
        #expect(moverHistory.contains { $0.outcome == .ok && $0.acknowledgedBy?.hasPrefix("west") == true })
        #expect(moverHistory.contains { $0.outcome == .ok && $0.acknowledgedBy?.hasPrefix("east") == true }, "the writer never reached the target")
        let target = try topology.connect(port: east)
        let found = try target.query("SELECT count(*) FROM jira.issues WHERE tenant_id = 'mover' AND id = ANY ($1::uuid[])",
                                     ["{" + acknowledged.joined(separator: ",") + "}"]).scalar
        #expect(found == String(acknowledged.count))
        // Every row of the (frozen) source copy is on the target.
        let source = try topology.connect(port: west)
        for table in ["jira.issues", "jira.comments", "confluence.spaces", "confluence.pages", "app_tempo.records"] {
            let ids = try source.query("SELECT coalesce(string_agg(id::text, ','), '') FROM \(table) WHERE tenant_id = 'mover'").scalar ?? ""
            let onTarget = try target.query("SELECT count(*) FROM \(table) WHERE tenant_id = 'mover' AND id = ANY ($1::uuid[])", ["{\(ids)}"]).scalar
            #expect(onTarget == String(ids.isEmpty ? 0 : ids.split(separator: ",").count), "\(table)")
        }
        #expect(try rows("mover", port: east)["app_legacy.records"] == 0, "an ineligible app's rows do not move")
        #expect(try rows("mover", port: west)["app_legacy.records"] == sourceBefore["app_legacy.records"])

        // The neighbour on the source shard never stopped; the moved tenant's source copy is frozen, its ineligible app is not.
        #expect(neighbourHistory.allSatisfy { $0.outcome == .ok }, "\(neighbourHistory.filter { $0.outcome != .ok }.prefix(3))")
        #expect(try isFrozen("mover", port: west))
        do {
            try appInsert("mover", port: west)
            Issue.record("a write of the moved tenant reached its frozen source copy")
        } catch let error as PostgresError {
            #expect(error.sqlState == TenantSchema.frozenTenantState)
        }
        try appInsert("neighbour", port: west)
        try appInsert("mover", port: west, table: "app_legacy.records")
        try appInsert("mover", port: east)
        let legacy = try topology.residency(["conninfo", "--tenant", "mover", "--app", "legacy"])
        let (westPort, eastPort) = (try west, try east)
        #expect(legacy.status == 0)
        #expect(legacy.text.contains("port='\(westPort)"), "\(legacy.text)")
        #expect(try topology.residency(["conninfo", "--tenant", "mover"]).text.contains("port='\(eastPort)"))
        #expect(try replicationObjects(port: west).isEmpty)
        #expect(try replicationObjects(port: east).isEmpty)

        // The residency report shows the source copy as pending deletion, then purge removes it.
        let move = try #require(try topology.control().moves().last { $0.tenant.rawValue == "mover" })
        #expect(move.phase == .retained)
        #expect(move.verification.contains("equal on both sides"))
        let report = try topology.residency(["report", "residency", "--json"])
        #expect(report.status == 0, "\(report.text)")
        #expect(report.text.contains("\"status\" : \"pending-deletion\""))
        #expect(report.text.contains("\"status\" : \"not-eligible\""))
        let purged = try topology.residency(["move", "purge", String(move.id)])
        #expect(purged.status == 0, "\(purged.text)")
        let left = try rows("mover", port: west)
        #expect(left.filter { $0.key != "app_legacy.records" }.values.allSatisfy { $0 == 0 }, "\(left)")
        #expect(left["app_legacy.records"] ?? 0 > 0)
        // Its login role went along to the target and stays on the source, where its ineligible app stayed.
        #expect(try hasRole("mover", port: east))
        #expect(try hasRole("mover", port: west))
        let after = try topology.residency(["report", "residency", "--json"])
        #expect(after.status == 0)
        #expect(!after.text.contains("pending-deletion"))
    }

    /// Runs a move of `tenant` in process, changing a row on the target at `phase` through `tamper`.
    func moveTampering(_ tenant: String, at phase: MovePhase, _ tamper: @escaping (Connection) throws -> Void) throws -> Move {
        let target = try topology.connect(port: east)
        let executor = try MoveExecutor(layout: try topology.layout) { event in
            if case let .phase(move) = event, move.phase == phase { try? tamper(target) }
        }
        return try executor.start(try executor.plan(tenant: tenant, to: "r1", region: nil), retentionDays: 7)
    }

    func expectCleanRollbackThenASuccessfulRetry(_ tenant: String, _ move: Move) throws {
        #expect(move.phase == .rolledBack)
        #expect(move.verification.hasPrefix("differences"), "\(move.verification)")
        #expect(try !isFrozen(tenant, port: west), "the source stays frozen after a rollback")
        let left = try rows(tenant, port: east)
        #expect(left.values.allSatisfy { $0 == 0 }, "rows left on the target: \(left)")
        #expect(try replicationObjects(port: west).isEmpty)
        #expect(try replicationObjects(port: east).isEmpty)
        #expect(try topology.control().tenants().first { $0.id.rawValue == tenant }?.shard == "west-1")
        #expect(try !hasRole(tenant, port: east), "a rolled-back move leaves no login on its target")
        try appInsert(tenant, port: west)

        let again = try topology.residency(["move", "start", "--tenant", tenant, "--to", "r1"])
        #expect(again.status == 0, "\(again.text)")
        let source = try rows(tenant, port: west)
        let target = try rows(tenant, port: east)
        for (table, count) in source where table != "app_legacy.records" { #expect(target[table] == count, "\(table)") }
    }

    @Test func aRowChangedOnTheTargetBeforeTheCopyFinishesFailsVerificationAndRollsBack() throws {
        try createTenant("tamper-copy")
        let move = try moveTampering("tamper-copy", at: .prepared) { target in
            try target.query("INSERT INTO jira.issues (tenant_id, key, summary) VALUES ('tamper-copy', 'EVIL-1', 'behind the back')")
        }
        try expectCleanRollbackThenASuccessfulRetry("tamper-copy", move)
    }

    @Test func aRowChangedOnTheTargetAfterThePreFreezeVerificationFailsVerificationAndRollsBack() throws {
        try createTenant("tamper-check")
        let move = try moveTampering("tamper-check", at: .preVerified) { target in
            try target.query("""
                UPDATE confluence.pages SET title = 'tampered'
                WHERE tenant_id = 'tamper-check' AND id = (SELECT id FROM confluence.pages WHERE tenant_id = 'tamper-check' LIMIT 1)
                """)
        }
        try expectCleanRollbackThenASuccessfulRetry("tamper-check", move)
    }

    @Test func aTenantAlreadyInTheRealmOnlyChangesItsPin() throws {
        try createTenant("pinned", realm: "r0")
        let plan = try topology.residency(["move", "plan", "--tenant", "pinned", "--to", "all"])
        #expect(plan.status == 0)
        #expect(plan.text.contains("no data moves"))
        let moved = try topology.residency(["move", "start", "--tenant", "pinned", "--to", "all"])
        #expect(moved.status == 0, "\(moved.text)")
        let tenant = try topology.control().tenants().first { $0.id.rawValue == "pinned" }
        #expect(tenant?.realm == "all" && tenant?.shard == "west-1")
        #expect(try rows("pinned", port: east).values.allSatisfy { $0 == 0 })
    }

    @Test func badRequestsAreRefusedWithExit65AndChangeNothing() throws {
        try createTenant("steady", realm: "r0")
        let before = try topology.control().moves().count
        for arguments in [["--tenant", "nobody", "--to", "r1"], ["--tenant", "steady", "--to", "mars"],
                          ["--tenant", "steady", "--to", "r1", "--region", "west"], ["--tenant", "steady", "--to", "r0"]] {
            for command in ["plan", "start"] {
                let refused = try topology.residency(["move", command] + arguments)
                #expect(refused.status == 65, "move \(command) \(arguments): \(refused.text)")
            }
        }
        let nothing = try topology.residency(["move", "start", "--tenant", "steady", "--to", "r0"])
        #expect(nothing.text.contains("tenant steady is already pinned to r0, on west-1: nothing to move"), "\(nothing.text)")
        #expect(try topology.residency(["move", "start", "--tenant", "steady", "--to", "r1", "--retention-days", "99999"]).status == 65)
        let limit = try topology.residency(["move", "start", "--tenant", "steady", "--to", "r1", "--catch-up-limit", "soon"])
        #expect(limit.status == 65 && limit.text.contains("'soon'"), "\(limit.text)")
        #expect(try topology.residency(["move", "rollback", "99999"]).status == 65)
        #expect(try topology.control().moves().count == before)
    }

    @Test func aSwitchedMoveCannotRollBack() throws {
        try createTenant("switched")
        let moved = try topology.residency(["move", "start", "--tenant", "switched", "--to", "r1"])
        try #require(moved.status == 0, "\(moved.text)")
        let id = try #require(try topology.control().moves().last { $0.tenant.rawValue == "switched" }?.id)
        let refused = try topology.residency(["move", "rollback", String(id)])
        #expect(refused.status == 65)
        #expect(refused.text.contains("cannot roll back"))
        let status = try topology.residency(["move", "status", String(id), "--json"])
        #expect(status.status == 0 && status.text.contains("\"phase\" : \"retained\""))
    }

    func hasRole(_ tenant: String, port: Int) throws -> Bool {
        try topology.connect(port: port).query("SELECT 1 FROM pg_roles WHERE rolname = $1", ["tenant-\(tenant)"]).rows.isEmpty == false
    }

    @Test func aNeighboursSessionSeesOnlyItsOwnRowsDuringAndAfterAMoveAndTheMovedRoleLeavesWithThePurgedCopy() throws {
        try createTenant("leaver", apps: ["tempo"])
        try createTenant("stayer", realm: "r0", apps: ["tempo"])
        let credentials = TenantCredentials(layout: try topology.layout)
        nonisolated(unsafe) let stayer = try credentials.connect(TenantID(validating: "stayer")!, port: try west)
        let seen = Mutex<Set<String>>([])
        let movers = Mutex<Set<String>>([])
        let stop = Atomic<Bool>(false)
        nonisolated(unsafe) let watcher = try topology.connect(port: try west)
        let reader = Thread {
            while !stop.load(ordering: .relaxed) {
                let rows = (try? stayer.query("SELECT DISTINCT tenant_id FROM jira.issues UNION SELECT DISTINCT tenant_id FROM app_tempo.records").rows) ?? []
                seen.withLock { $0.formUnion(rows.map { $0[0] ?? "" }) }
                // Who the move's sessions on the source log in as.
                let users = (try? watcher.query("SELECT DISTINCT usename FROM pg_stat_activity WHERE application_name LIKE 'residency_move_%'").rows) ?? []
                movers.withLock { $0.formUnion(users.map { $0[0] ?? "" }) }
            }
        }
        reader.start()
        let moved = try topology.residency(["move", "start", "--tenant", "leaver", "--to", "r1"])
        stop.store(true, ordering: .relaxed)
        while !reader.isFinished { usleep(10_000) }
        try #require(moved.status == 0, "\(moved.text)")
        #expect(seen.withLock { $0 } == ["stayer"])
        #expect(movers.withLock { $0 } == ["residency_mover"], "a move's sessions log in as the mover's role")
        #expect(try hasRole("leaver", port: east))
        #expect(try hasRole("leaver", port: west), "kept with the retained copy")
        let id = try #require(try topology.control().moves().last { $0.tenant.rawValue == "leaver" }?.id)
        #expect(try topology.residency(["move", "purge", String(id)]).status == 0)
        #expect(try !hasRole("leaver", port: west), "nothing of the tenant is left on the source: its role goes")
        #expect(try hasRole("leaver", port: east))
        #expect(try stayer.query("SELECT array_agg(DISTINCT tenant_id) FROM jira.issues").scalar == "{stayer}")
    }

    @Test func theCoordinatorPurgesARetainedCopyOnceItsRetentionHasEnded() throws {
        try createTenant("short-lived")
        let moved = try topology.residency(["move", "start", "--tenant", "short-lived", "--to", "r1", "--retention-days", "0"])
        try #require(moved.status == 0, "\(moved.text)")
        let id = try #require(try topology.control().moves().last { $0.tenant.rawValue == "short-lived" }?.id)
        #expect(try topology.control().move(id)?.phase == .retained)
        let coordinator = try topology.startCoordinator()
        defer { topology.stopCoordinator(coordinator) }
        #expect(try eventually(20) { try topology.control().move(id)?.phase == .purged })
        let left = try rows("short-lived", port: west)
        #expect(left.filter { $0.key != "app_legacy.records" }.values.allSatisfy { $0 == 0 }, "\(left)")
    }

    @Test func aMoveKilledBeforeItsSwitchRollsBackCleanlyFromAnotherProcess() throws {
        try createTenant("crash-early")
        let killed = try topology.residency(["move", "start", "--tenant", "crash-early", "--to", "r1"], crashAt: "move.after-catching-up")
        #expect(killed.status != 0)
        let move = try #require(try topology.control().moves().last { $0.tenant.rawValue == "crash-early" })
        #expect(move.phase == .catchingUp)
        #expect(try !replicationObjects(port: east).isEmpty, "the killed move left its subscription")
        // No process executes it any more: rollback does it itself.
        let rolledBack = try topology.residency(["move", "rollback", String(move.id)])
        #expect(rolledBack.status == 0, "\(rolledBack.text)")
        #expect(try topology.control().move(move.id)?.phase == .rolledBack)
        #expect(try replicationObjects(port: west).isEmpty)
        #expect(try replicationObjects(port: east).isEmpty)
        #expect(try rows("crash-early", port: east).values.allSatisfy { $0 == 0 })
        #expect(try !isFrozen("crash-early", port: west))
        #expect(try topology.residency(["move", "start", "--tenant", "crash-early", "--to", "r1"]).status == 0)
    }

    @Test func aMoveKilledAfterItsSwitchIsResumedToItsCleanup() throws {
        try createTenant("crash-late")
        let killed = try topology.residency(["move", "start", "--tenant", "crash-late", "--to", "r1"], crashAt: "move.after-switched")
        #expect(killed.status != 0)
        let move = try #require(try topology.control().moves().last { $0.tenant.rawValue == "crash-late" })
        #expect(move.phase == .switched)
        #expect(move.retainUntil != nil, "the switch transaction itself records the retained copy")
        let audit = try topology.residency(["report", "residency"])
        #expect(audit.status == 0, "the source copy of a switched move is pending deletion, not a violation: \(audit.text)")
        #expect(try topology.control().tenants().first { $0.id.rawValue == "crash-late" }?.shard == "east-1")
        #expect(try topology.residency(["move", "rollback", String(move.id)]).status == 65, "no rollback past the switch")
        let resumed = try topology.residency(["move", "resume", String(move.id)])
        #expect(resumed.status == 0, "\(resumed.text)")
        #expect(try topology.control().move(move.id)?.phase == .retained)
        #expect(try replicationObjects(port: west).isEmpty)
        #expect(try replicationObjects(port: east).isEmpty)
        #expect(try isFrozen("crash-late", port: west))
    }

    @Test func aRollbackRequestedWhileTheMoveRunsIsCarriedOutByItsExecutor() throws {
        try createTenant("asked-back")
        let control = try topology.control()
        let executor = try MoveExecutor(layout: try topology.layout) { event in
            if case let .phase(move) = event, move.phase == .copying { try? control.requestMoveRollback(move.id, reason: "test") }
        }
        let move = try executor.start(try executor.plan(tenant: "asked-back", to: "r1", region: nil), retentionDays: 7)
        #expect(move.phase == .rolledBack)
        #expect(move.reason.contains("rollback requested"))
        #expect(try replicationObjects(port: east).isEmpty)
        #expect(try rows("asked-back", port: east).values.allSatisfy { $0 == 0 })
    }

    /// `START/DURATION` starting `seconds` from the control server's clock.
    func window(startingIn seconds: Int64, lasting duration: String) throws -> String {
        MoveWindow.iso8601(try topology.control().nowMilliseconds() + seconds * 1000) + "/" + duration
    }

    @Test func aScheduledMoveStartsByItselfWhenItsWindowOpensAndCompletes() throws {
        try createTenant("scheduled")
        let scheduled = try topology.residency(["move", "schedule", "--tenant", "scheduled", "--to", "r1", "--window", try window(startingIn: 3, lasting: "PT5M")])
        try #require(scheduled.status == 0, "\(scheduled.text)")
        let move = try #require(try topology.control().moves().last { $0.tenant.rawValue == "scheduled" })
        #expect(move.phase == .planned && move.window != nil)
        #expect(try topology.residency(["move", "list"]).text.contains("/PT5M"))
        let coordinator = try topology.startCoordinator()
        defer { topology.stopCoordinator(coordinator) }
        #expect(try eventually(40) { try topology.control().move(move.id)?.phase == .retained })
        #expect(try topology.control().tenants().first { $0.id.rawValue == "scheduled" }?.shard == "east-1")
        #expect(try replicationObjects(port: east).isEmpty)
    }

    @Test func aScheduledMoveThatCannotSwitchBeforeItsWindowEndsRollsBackByItselfAndSaysWhy() throws {
        try createTenant("late-window")
        // A transaction held open on the target keeps the move from starting its change
        // tracking (which waits for older transactions) past the window's end.
        let blocker = try topology.connect(port: east)
        try blocker.execute("BEGIN")
        try blocker.query("SELECT 1")
        let scheduled = try topology.residency(["move", "schedule", "--tenant", "late-window", "--to", "r1", "--window", try window(startingIn: 2, lasting: "PT3S")])
        try #require(scheduled.status == 0, "\(scheduled.text)")
        let id = try #require(try topology.control().moves().last { $0.tenant.rawValue == "late-window" }?.id)
        let coordinator = try topology.startCoordinator()
        defer { topology.stopCoordinator(coordinator) }
        Thread.sleep(forTimeInterval: 8)
        try blocker.execute("COMMIT")
        #expect(try eventually(30) { try topology.control().move(id)?.phase == .rolledBack })
        let move = try topology.control().move(id)
        #expect(move?.reason.contains("window") == true, "\(move?.reason ?? "")")
        #expect(try topology.control().events().contains { $0.kind == "move.rolling-back" && $0.detail.contains("window") })
        #expect(try replicationObjects(port: west).isEmpty)
        #expect(try replicationObjects(port: east).isEmpty)
        #expect(try rows("late-window", port: east).values.allSatisfy { $0 == 0 })
        #expect(try topology.control().tenants().first { $0.id.rawValue == "late-window" }?.shard == "west-1")
    }

    @Test func schedulingRefusesBadWindowsAndASecondMoveAndCancelsOnlyWaitingMoves() throws {
        try createTenant("planner")
        let before = try topology.control().moves().count
        for bad in ["tomorrow", "2026-12-01T02:00Z/2H", "2020-01-01T00:00Z/PT1H"] {
            let refused = try topology.residency(["move", "schedule", "--tenant", "planner", "--to", "r1", "--window", bad])
            #expect(refused.status == 65, "\(bad): \(refused.text)")
        }
        #expect(try topology.control().moves().count == before)
        let first = try topology.residency(["move", "schedule", "--tenant", "planner", "--to", "r1", "--window", try window(startingIn: 3600, lasting: "PT1H")])
        try #require(first.status == 0, "\(first.text)")
        let second = try topology.residency(["move", "schedule", "--tenant", "planner", "--to", "r1", "--window", try window(startingIn: 7200, lasting: "PT1H")])
        #expect(second.status == 65)
        let id = try #require(try topology.control().moves().last { $0.tenant.rawValue == "planner" }?.id)
        #expect(try topology.residency(["move", "resume", String(id)]).status == 65, "its window has not opened")
        let cancelled = try topology.residency(["move", "cancel", String(id)])
        #expect(cancelled.status == 0, "\(cancelled.text)")
        #expect(try topology.control().move(id)?.phase == .cancelled)
        #expect(try topology.residency(["move", "cancel", String(id)]).status == 65)
        // Cancelled, the tenant can move again; a move that was never scheduled cannot be cancelled.
        #expect(try topology.residency(["move", "start", "--tenant", "planner", "--to", "r1"]).status == 0)
        let started = try #require(try topology.control().moves().last { $0.tenant.rawValue == "planner" }?.id)
        #expect(try topology.residency(["move", "cancel", String(started)]).status == 65)
    }

    @Test(arguments: [MovePhase.prepared, .copying, .catchingUp, .preVerified, .frozen, .verified, .switched, .retained])
    func aCoordinatorKilledAtAScheduledMovesStepIsReplacedAndTheMoveEndsWithEveryAcknowledgedWriteOnce(phase: MovePhase) throws {
        let tenant = "killed-\(phase.rawValue)"
        try createTenant(tenant)
        let writer = try writer(tenant)
        writer.start()
        let scheduled = try topology.residency(["move", "schedule", "--tenant", tenant, "--to", "r1", "--window", try window(startingIn: 2, lasting: "PT5M")])
        try #require(scheduled.status == 0, "\(scheduled.text)")
        let id = try #require(try topology.control().moves().last { $0.tenant.rawValue == tenant }?.id)
        let doomed = try topology.startCoordinator(crashAt: "move.after-\(phase.rawValue)")
        #expect(try eventually(40) { !LocalNodeManager.isAlive(doomed) }, "the coordinator never reached move.after-\(phase.rawValue)")
        topology.stopCoordinator(doomed)
        #expect(try topology.control().move(id)?.phase == phase)
        let successor = try topology.startCoordinator()
        defer { topology.stopCoordinator(successor) }
        #expect(try eventually(60) { [.retained, .rolledBack].contains(try topology.control().move(id)?.phase) })
        Thread.sleep(forTimeInterval: 0.5)
        let history = writer.stop()
        let move = try #require(try topology.control().move(id))
        let home = move.phase == .retained ? try east : try west
        let acknowledged = history.filter { $0.outcome == .ok }.map(\.id)
        let found = try topology.connect(port: home).query(
            "SELECT count(*) FROM jira.issues WHERE tenant_id = $1 AND id = ANY ($2::uuid[])", [tenant, "{" + acknowledged.joined(separator: ",") + "}"]).scalar
        #expect(found == String(acknowledged.count), "acknowledged writes missing on \(move.phase == .retained ? "the target" : "the source")")
        #expect(try replicationObjects(port: west).isEmpty)
        #expect(try replicationObjects(port: east).isEmpty)
        if move.phase == .rolledBack {
            #expect(try rows(tenant, port: east).values.allSatisfy { $0 == 0 })
            #expect(try !isFrozen(tenant, port: west))
        }
    }

    @Test func aCoordinatorKilledWhileRollingBackAScheduledMoveIsReplacedAndTheRollbackFinishes() throws {
        let tenant = "killed-rolling-back"
        try createTenant(tenant)
        let scheduled = try topology.residency(["move", "schedule", "--tenant", tenant, "--to", "r1", "--window", try window(startingIn: 2, lasting: "PT5M")])
        try #require(scheduled.status == 0, "\(scheduled.text)")
        let control = try topology.control()
        let id = try #require(try control.moves().last { $0.tenant.rawValue == tenant }?.id)
        let doomed = try topology.startCoordinator(crashAt: "move.after-rolling-back")
        // Once the move runs, an operator asks for its rollback: the coordinator dies right
        // after journaling rolling-back, before undoing anything.
        #expect(try eventually(30) { (try control.move(id)?.phase ?? .planned) > .planned })
        try control.requestMoveRollback(id, reason: "test")
        #expect(try eventually(40) { !LocalNodeManager.isAlive(doomed) }, "the coordinator never reached move.after-rolling-back")
        topology.stopCoordinator(doomed)
        #expect(try control.move(id)?.phase == .rollingBack)
        let successor = try topology.startCoordinator()
        defer { topology.stopCoordinator(successor) }
        #expect(try eventually(60) { try control.move(id)?.phase == .rolledBack })
        #expect(try replicationObjects(port: west).isEmpty)
        #expect(try replicationObjects(port: east).isEmpty)
        #expect(try rows(tenant, port: east).values.allSatisfy { $0 == 0 })
        #expect(try !isFrozen(tenant, port: west))
        #expect(try control.tenants().first { $0.id.rawValue == tenant }?.shard == "west-1")
    }

    @Test func aSourceZonePowerLossDuringTheCopyRollsTheMoveBackSayingWhyAndANewStartSucceeds() throws {
        try createTenant("zone-loss")
        let coordinator = try topology.startCoordinator()
        defer { topology.stopCoordinator(coordinator) }
        #expect(try topology.waitForLeader())
        let control = try topology.control()
        let before = try #require(try control.shards().first { $0.shard == "west-1" })
        var lostZone: String?
        let executor = try MoveExecutor(layout: try topology.layout) { event in
            guard case let .phase(move) = event, move.phase == .copying, lostZone == nil else { return }
            lostZone = before.primary.zone.rawValue
            _ = try? topology.residency(["zone", "stop", before.primary.zone.rawValue, "--mode", "power-loss"])
            _ = try? eventually(20) { (try control.shards().first { $0.shard == "west-1" }?.epoch ?? 0) > before.epoch }
        }
        let move = try executor.start(try executor.plan(tenant: "zone-loss", to: "r1", region: nil), retentionDays: 7)
        #expect(lostZone != nil)
        #expect(move.phase == .rolledBack)
        #expect(move.reason.contains("source shard west-1 failed over"), "\(move.reason)")
        #expect(try replicationObjects(port: west).isEmpty, "on the new source primary")
        #expect(try replicationObjects(port: east).isEmpty)
        #expect(try rows("zone-loss", port: east).values.allSatisfy { $0 == 0 })
        #expect(try !isFrozen("zone-loss", port: west))

        let again = try topology.residency(["move", "start", "--tenant", "zone-loss", "--to", "r1"])
        #expect(again.status == 0, "\(again.text)")
        if let lostZone { _ = try topology.residency(["zone", "start", lostZone]) }
        #expect(try eventually(60) { try topology.residency(["status"]).status == 0 }, "the lost zone rejoined")
    }

    @Test func aSourceFailoverWhileNoExecutorRunsIsSeenByTheResumingOneFromTheRecordedEpochs() throws {
        try createTenant("orphaned")
        let killed = try topology.residency(["move", "start", "--tenant", "orphaned", "--to", "r1"], crashAt: "move.after-catching-up")
        #expect(killed.status != 0)
        let move = try #require(try topology.control().moves().last { $0.tenant.rawValue == "orphaned" })
        #expect(move.phase == .catchingUp && move.sourceEpoch != nil && move.targetEpoch != nil)
        // The switchover needs a coordinator, which would adopt the orphaned move at once:
        // this session holds the move's executor lock meanwhile, as a live executor would.
        let holder = try topology.control()
        try #require(try holder.lockMove(move.id))
        let watched = try #require(try topology.control().movesToWatch().first { $0.move.id == move.id })
        #expect(watched.locked, "the coordinator sees that another session executes the move")
        #expect(MoveAdoption.decide(watched.move, controlClockMilliseconds: watched.clockMilliseconds, executorHoldsLock: watched.locked,
                                    heartbeatAge: watched.heartbeatAgeMilliseconds.map { .milliseconds($0) }, settings: MoveSettings()) == .leave)
        let coordinator = try topology.startCoordinator()
        #expect(try topology.waitForLeader())
        let standby = try #require(try topology.nodes().first { $0.node.shard == "west-1" && $0.role == .standby }?.node)
        let switched = try topology.residency(["switchover", "west-1", "--to", standby.zone.rawValue])
        try #require(switched.status == 0, "\(switched.text)")
        topology.stopCoordinator(coordinator)
        try holder.unlockMove(move.id)
        let resumed = try topology.residency(["move", "resume", String(move.id)])
        #expect(resumed.status == 2, "a move that ends rolled back exits 2 (unavailable): \(resumed.text)")
        let after = try #require(try topology.control().move(move.id))
        #expect(after.phase == .rolledBack)
        #expect(after.reason.contains("source shard west-1 failed over"), "\(after.reason)")
        #expect(try replicationObjects(port: west).isEmpty, "on the new source primary")
        #expect(try replicationObjects(port: east).isEmpty)
        #expect(try rows("orphaned", port: east).values.allSatisfy { $0 == 0 })
        #expect(try !isFrozen("orphaned", port: west))
        #expect(try topology.residency(["move", "start", "--tenant", "orphaned", "--to", "r1"]).status == 0)
    }

    @Test func aCopyStuckOnItsSourceIsAbandonedAndCommitsNothingWhenTheSourceWakesUp() throws {
        let tenant = "stuck-copy"
        let created = try topology.residency(["tenant", "create", tenant, "--realm", "all", "--region", "west",
                                              "--apps", "tempo", "legacy", "--demo-rows", "100000"])
        try #require(created.status == 0, "\(created.text)")
        let control = try topology.control()
        let source = try topology.connect(port: try west)
        var stopped: Int32?
        var notes: [String] = []
        let executor = try MoveExecutor(layout: try topology.layout) { event in
            if case let .note(text) = event { notes.append(text) }
            // At the first progress report (a second into the copy of ~5 s here) that finds
            // a source backend reading the tenant's rows (not between two tables), that
            // backend is stopped (SIGSTOP), as a server that stops answering would be, and a
            // rollback is requested.
            guard case .copying = event, stopped == nil,
                  let id = try? control.moves().last?.id,
                  let pid = (try? source.query("""
                      SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'COPY (SELECT%' AND state = 'active'
                      """, ["residency_move_\(id)"]).scalar).flatMap({ $0.flatMap { Int32($0) } })
            else { return }
            kill(pid, SIGSTOP)
            stopped = pid
            try? control.requestMoveRollback(id, reason: "test")
        }
        let move = try executor.start(try executor.plan(tenant: tenant, to: "r1", region: nil), retentionDays: 7)
        let pid = try #require(stopped, "no copy reader found to stop")
        #expect(notes.contains { $0.hasPrefix("stopping the copy") }, "\(notes)")
        #expect(move.phase == .rolledBack, "\(move.reason)")
        #expect(try rows(tenant, port: east).values.allSatisfy { $0 == 0 })
        // The reader wakes up after the rollback: the abandoned copy gets its next buffers
        // and must commit nothing of them on the target.
        kill(pid, SIGCONT)
        Thread.sleep(forTimeInterval: 5)
        #expect(try rows(tenant, port: east).values.allSatisfy { $0 == 0 }, "nothing of the abandoned copy reached the target")
        #expect(try replicationObjects(port: west).isEmpty)
        #expect(try replicationObjects(port: east).isEmpty)
        #expect(try !isFrozen(tenant, port: west))
    }
}
