import Foundation
import Logging
import ResidencyChaos
import ResidencyConfig
import ResidencyCore
import ResidencyPostgres
import ResidencyReport
import ResidencyRuntime
import Testing

/// Short drills with a real zone power loss, on a topology of their own.
@Suite(.serialized) struct DrillTests {
    let topology: TestTopology

    init() throws { topology = try DrillTopology.get() }

    func scenario(_ extra: String = "") throws -> (ScenarioLoader.Loaded, Topology) {
        let text = """
            name: short-power-loss
            description: test
            topology: \(topology.topologyDirectory)
            duration_s: 8
            tenants:
              - name: drill-one
                realm: r0
            faults:
              - at_s: 3
                action: power-loss
                primary_of: east-1
              - at_s: 7
                action: heal
            targets:
              rto_max_s: 3
              rpo_max: 0
              sla_tier: premium
            \(extra)
            """
        let loaded = try ScenarioLoader.load(file: "short.yaml", text: text)
        let loadedTopology = try TopologyLoader.load(directory: topology.topologyDirectory)
        try ScenarioLoader.check(loaded, against: loadedTopology, file: "short.yaml")
        return (loaded, loadedTopology)
    }

    func drill(_ loaded: ScenarioLoader.Loaded, _ loadedTopology: Topology, beforeCheck: @escaping (DrillHistory) throws -> Void = { _ in }) throws -> DrillResult {
        try Drill(scenario: loaded.scenario, topology: loadedTopology, topologyDirectory: topology.topologyDirectory,
                  state: StateDirectory(option: topology.statePath), logger: Logger(label: "test.drill"),
                  executable: TestTopology.executable, beforeCheck: beforeCheck).run()
    }

    @Test func aShortDrillWithARealPowerLossPassesWithItsFigures() throws {
        let (loaded, loadedTopology) = try scenario()
        let before = try topology.shard("east-1")
        let result = try drill(loaded, loadedTopology)
        #expect(result.verdict.passed, "\(result.verdict.checks.filter { !$0.held })")
        #expect(result.writes.ok > 100)
        #expect(result.checker.lostAcknowledged == 0)
        let rto = result.checker.recoveryByShard["east-1"] ?? nil
        #expect(rto != nil && rto! > 900 && rto! <= 3_000, "RTO \(String(describing: rto)) ms")
        #expect(result.history.promotions.count == 1)
        #expect(result.history.promotions.first?.node.shard == "east-1")
        #expect(result.history.promotions.first?.node != before.primary)
        #expect(result.sla.map(\.tenant) == ["drill-one"])
        let json = DrillReportJSON.render(result)
        #expect(json.contains("\"passed\" : true"))
    }

    @Test func anAcknowledgedRowRemovedBehindTheDrillsBackIsReportedAsLost() throws {
        let (loaded, loadedTopology) = try scenario()
        let result = try drill(loaded, loadedTopology) { history in
            // Delete one acknowledged row on the final primary before the check reads back.
            guard let victim = history.writes.first(where: { $0.outcome == .ok }),
                  let primary = history.finalPrimaries[victim.shard] else { throw TestError("nothing acknowledged") }
            try topology.connect(port: try topology.port(primary)).query("DELETE FROM jira.issues WHERE id = $1::uuid", [victim.id])
        }
        #expect(!result.verdict.passed)
        #expect(result.checker.lostAcknowledged == 1)
        #expect(result.verdict.checks.first { $0.name.hasPrefix("RPO") }?.held == false)
    }

    func restoreScenario() throws -> (ScenarioLoader.Loaded, Topology) {
        let text = """
            name: short-restore-tenant
            description: test
            topology: \(topology.topologyDirectory)
            duration_s: 10
            tenants:
              - name: drill-victim
                realm: r0
              - name: drill-beside
                realm: r0
              - name: drill-away
                realm: r1
            faults:
              - at_s: 3
                action: delete-tenant-rows
                tenant: drill-victim
              - at_s: 5
                action: restore-tenant
                tenant: drill-victim
            targets:
              rpo_max: 0
            """
        let loaded = try ScenarioLoader.load(file: "restore.yaml", text: text)
        let loadedTopology = try TopologyLoader.load(directory: topology.topologyDirectory)
        try ScenarioLoader.check(loaded, against: loadedTopology, file: "restore.yaml")
        return (loaded, loadedTopology)
    }

    /// A tenant's rows deleted by mistake under writes, restored to just before: every write
    /// acknowledged before is back, none begun after, the neighbours (one on the same shard)
    /// neither lost nor gained a row.
    @Test func aTenantDeletedByMistakeIsRestoredToJustBeforeAndItsNeighboursAreUntouched() throws {
        let (loaded, loadedTopology) = try restoreScenario()
        let result = try drill(loaded, loadedTopology)
        #expect(result.verdict.passed, "\(result.verdict.checks.filter { !$0.held })")
        let finding = try #require(result.checker.restores.first)
        #expect(finding.restore.error == nil)
        #expect(finding.acknowledgedBefore > 10 && finding.missingBefore.isEmpty)
        #expect(finding.undone > 0 && finding.resurrected.isEmpty)
        #expect(result.checker.unexplainedRowChanges == [TenantID(validating: "drill-beside")!: 0, TenantID(validating: "drill-away")!: 0])
        #expect(result.checker.lostAcknowledged == 0)
    }

    /// The verdict is not vacuous: a write the restore must have undone put back behind the
    /// drill's back, and a row added to a neighbour, each fail their check.
    @Test func aResurrectedWriteOrANeighboursExtraRowFailsTheRestoreVerdict() throws {
        let (loaded, loadedTopology) = try restoreScenario()
        let result = try drill(loaded, loadedTopology) { history in
            guard let restore = history.restores.first, let swapped = restore.swappedAtMs else { throw TestError("no restore") }
            let victim = TenantID(validating: "drill-victim")!
            let candidates = history.writes.filter { (write: DrillHistory.Write) -> Bool in
                write.tenant == victim && write.outcome == .ok && write.invokedAtMs > restore.targetMs && write.completedAtMs < swapped
            }
            guard let undone = candidates.first, let primary = history.finalPrimaries[undone.shard] else { throw TestError("no write to resurrect") }
            let connection = try topology.connect(port: try topology.port(primary))
            try connection.query("INSERT INTO jira.issues (tenant_id, id, key, summary) VALUES ('drill-victim', $1::uuid, 'BACK-1', 'resurrected')", [undone.id])
            try connection.query("INSERT INTO jira.issues (tenant_id, key, summary) VALUES ('drill-beside', 'EXTRA-1', 'gained')")
        }
        #expect(!result.verdict.passed)
        #expect(result.verdict.checks.first { $0.name.contains("begun after the target") }?.held == false)
        #expect(result.verdict.checks.first { $0.name == "other tenants' rows" }?.held == false)
    }

    @Test func aDrillRefusesToRunOnANodeWithWeakenedDurability() throws {
        let (loaded, loadedTopology) = try scenario()
        let node = try topology.nodes().first { $0.node.shard == "west-1" && $0.role == .standby }!
        let connection = try topology.connect(port: node.port)
        try connection.execute("ALTER SYSTEM SET synchronous_commit = 'local'")
        try connection.query("SELECT pg_reload_conf()")
        defer {
            _ = try? connection.execute("ALTER SYSTEM RESET synchronous_commit")
            _ = try? connection.query("SELECT pg_reload_conf()")
        }
        #expect(eventually(5) { (try? connection.query("SHOW synchronous_commit").scalar) == "local" })
        do {
            _ = try drill(loaded, loadedTopology)
            Issue.record("the drill ran on a node with synchronous_commit = local")
        } catch let error as RuntimeError {
            #expect(error.kind == .unavailable)
            #expect(error.message.contains("\(node.node) runs with synchronous_commit = local"), "\(error.message)")
        }
    }

    @Test func aDrillWhoseFaultHitsNoPrimaryFailsInsteadOfPassingVacuously() throws {
        // A zone of east-1's standbys: no shard's primary is there.
        let standby = try #require(try topology.nodes().first { $0.node.shard == "east-1" && $0.role == .standby }?.node.zone)
        let text = """
            name: vacuous
            topology: \(topology.topologyDirectory)
            duration_s: 5
            tenants:
              - name: drill-one
                realm: r0
            faults:
              - at_s: 1
                action: power-loss
                zone: \(standby)
              - at_s: 3
                action: heal
            targets:
              rto_max_s: 3
              rpo_max: 0
            """
        let loaded = try ScenarioLoader.load(file: "vacuous.yaml", text: text)
        let loadedTopology = try TopologyLoader.load(directory: topology.topologyDirectory)
        let result = try drill(loaded, loadedTopology)
        let failed = result.verdict.checks.filter { !$0.held }.map(\.name)
        #expect(!result.verdict.passed)
        #expect(failed.contains("RTO") && failed.contains { $0.hasSuffix("hits a primary") }, "\(failed)")
        #expect(result.history.faults.first?.primariesHit == [])
        #expect(try eventually(60) { try topology.residency(["status"]).status == 0 }, "the zone rejoined")
    }

    @Test func theDrillCommandExitsOneWhenATargetIsMissedAnd65ForABadScenario() throws {
        let file = topology.root + "/impossible.yaml"
        try """
            name: impossible
            topology: \(topology.topologyDirectory)
            duration_s: 4
            tenants:
              - name: drill-one
                realm: r0
            faults:
              - at_s: 1
                action: power-loss
                primary_of: east-1
            targets:
              rto_max_s: 1
              rpo_max: 0
            expect:
              unavailable: [east-1]
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let missed = try topology.residency(["drill", file, "--json"])
        #expect(missed.status == 1, "\(missed.text.suffix(2000))")
        #expect(missed.text.contains("\"passed\" : false"))

        try "name: x\ntopology: \(topology.topologyDirectory)\nduration_s: 4\ntenants:\n  - name: t\n    realm: nowhere\ntargets:\n  rpo_max: 0\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        let invalid = try topology.residency(["drill", file])
        #expect(invalid.status == 65)
        #expect(invalid.text.contains("impossible.yaml:6:12: unknown realm 'nowhere'"), "\(invalid.text)")
    }

    /// `residency chaos --rounds 2`: two random rounds on the real processes, each written
    /// out as a scenario that `residency drill` accepts, each with its verdict.
    @Test func chaosRunsTwoRandomRoundsAndWritesReplayableScenarios() throws {
        let loadedTopology = try TopologyLoader.load(directory: topology.topologyDirectory)
        // A seed whose two rounds are short (CI time), at least one of them with two episodes.
        let seed = try #require((UInt64(1)...200).first { seed in
            let rounds = (1...2).compactMap { ChaosPlan.scenario(topology: loadedTopology, topologyDirectory: topology.topologyDirectory, seed: seed, round: $0) }
            return rounds.allSatisfy { $0.duration <= .seconds(30) } && rounds.contains { $0.summary.contains(",") }
        })
        let out = topology.root + "/chaos"
        let run = try topology.residency(["chaos", "--seed", "\(seed)", "--rounds", "2", "--out", out, "--topology", topology.topologyDirectory, "--json"])
        #expect(run.status == 0, "\(run.text.suffix(3000))")
        let document = try JSONSerialization.jsonObject(with: Data(run.text.utf8)) as? [String: Any]
        let rounds = document?["rounds"] as? [[String: Any]] ?? []
        #expect(rounds.count == 2)
        #expect(rounds.allSatisfy { $0["passed"] as? Bool == true && $0["lost_acknowledged"] as? Int == 0 }, "\(rounds)")
        for round in 1...2 {
            let file = "\(out)/chaos-\(seed)-\(round).yaml"
            #expect(FileManager.default.fileExists(atPath: file))
            let check = try topology.residency(["drill", file, "--check"])
            #expect(check.status == 0, "\(check.text)")
            let replayed = try ScenarioLoader.load(file: file).scenario
            #expect(replayed == ChaosPlan.scenario(topology: loadedTopology, topologyDirectory: topology.topologyDirectory, seed: seed, round: round))
        }
    }

    func moveScenario(_ name: String, _ body: String) throws -> (ScenarioLoader.Loaded, Topology) {
        let text = "name: \(name)\ndescription: test\ntopology: \(topology.topologyDirectory)\n" + body
        let loaded = try ScenarioLoader.load(file: "\(name).yaml", text: text)
        let loadedTopology = try TopologyLoader.load(directory: topology.topologyDirectory)
        try ScenarioLoader.check(loaded, against: loadedTopology, file: "\(name).yaml")
        return (loaded, loadedTopology)
    }

    /// The mover's rows on every node of `shard`.
    func rows(of tenant: String, on shard: String) throws -> [Int] {
        try topology.nodes().filter { $0.node.shard == ShardID(shard) }.map { node in
            Int(try topology.connect(port: node.port).query("SELECT count(*) FROM jira.issues WHERE tenant_id = $1", [tenant]).scalar ?? "") ?? -1
        }
    }

    @Test func aMoveUnderLoadLosesNothingLeavesNothingBehindAndSparesItsNeighboursTwiceInARow() throws {
        let (loaded, loadedTopology) = try moveScenario("move-under-load", """
            duration_s: 12
            tenants:
              - name: drill-mover
                realm: all
                region: east
                seed_rows: 2000
              - name: drill-one
                realm: r0
              - name: drill-two
                realm: r1
            faults:
              - at_s: 3
                action: move
                tenant: drill-mover
                to: r1
            targets:
              rpo_max: 0
              move_gap_max_ms: 5000
            expect:
              neighbours_unaffected: true
            """)
        // The second run first puts the mover back in east, where the scenario starts it.
        for run in 1...2 {
            let result = try drill(loaded, loadedTopology)
            #expect(result.verdict.passed, "run \(run): \(result.verdict.checks.filter { !$0.held })")
            let finding = try #require(result.checker.moves.first)
            #expect(finding.move.switched && finding.move.fromShard == "east-1" && finding.move.toShard == "west-1", "\(finding.move)")
            #expect(finding.neighbours.map(\.rawValue) == ["drill-one", "drill-two"])
            #expect(finding.neighbourAcknowledged > 0 && finding.neighbourFailures == 0)
            #expect(finding.longestGapMs > 0)
            #expect(result.checker.lostAcknowledged == 0 && result.checker.duplicates.isEmpty)
            #expect(result.writes.ok > 100)
            #expect(try rows(of: "drill-mover", on: "east-1").allSatisfy { $0 == 0 }, "the source copy is purged on every node")
            #expect(try rows(of: "drill-mover", on: "west-1").allSatisfy { $0 > 2000 }, "every node of the target holds the tenant")
            #expect(try topology.control().tenants().first { $0.id.rawValue == "drill-mover" }?.realm == "r1")
        }
    }

    @Test func aSourceZoneLostDuringAMovesCopyRollsItBackAndTheMoveSucceedsOnceTheZoneIsBack() throws {
        let before = try topology.shard("east-1")
        let (loaded, loadedTopology) = try moveScenario("move-with-zone-loss", """
            duration_s: 24
            tenants:
              - name: drill-mover-two
                realm: all
                region: east
                seed_rows: 20000
              - name: drill-one
                realm: r0
            faults:
              - at_s: 3
                action: move
                tenant: drill-mover-two
                to: r1
                expect: rolled-back
              - at_move_phase: prepared
                action: power-loss
                primary_of: east-1
              - at_s: 12
                action: heal
              - at_s: 18
                action: move
                tenant: drill-mover-two
                to: r1
            targets:
              rto_max_s: 3
              rpo_max: 0
            """)
        let result = try drill(loaded, loadedTopology)
        #expect(result.verdict.passed, "\(result.verdict.checks.filter { !$0.held })")
        #expect(result.history.moves.map(\.outcome) == ["rolled-back", "purged"])
        #expect(result.history.moves.first?.reason.contains("source shard east-1 failed over") == true, "\(result.history.moves.first?.reason ?? "")")
        #expect(result.history.faults.map(\.action) == ["move", "power-loss", "heal", "move"])
        #expect(result.history.faults[1].zone == before.primary.zone)
        #expect(result.history.promotions.contains { $0.node.shard == "east-1" })
        #expect(result.checker.lostAcknowledged == 0 && result.checker.duplicates.isEmpty)
        #expect(try rows(of: "drill-mover-two", on: "east-1").allSatisfy { $0 == 0 })
    }
}

/// A topology for drills: 2 regions x 3 zones, created with `up --no-coordinator` (the
/// drill starts its coordinator), destroyed when the test process exits.
enum DrillTopology {
    private static let instance = TestTopology.shared(regions: ["east", "west"], tenants: [])

    static func get() throws -> TestTopology { try instance.get() }
}

enum DrillReportJSON {
    static func render(_ result: DrillResult) -> String { DrillReport.json(result) }
}

