import Foundation
import ResidencyCore
import ResidencyPostgres
import ResidencyRuntime
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `up`, `down` and their crash points on a topology of its own (2 regions x 3 zones).
@Suite(.serialized) struct LifecycleTests {
    @Test func upKilledAtEachStepResumesAndEndsHealthyThenDownLeavesNoProcess() throws {
        let topology = try TestTopology(regions: ["east", "west"], zones: 3)
        defer { topology.destroy() }

        // Each run is killed one step further on; the next run resumes from the journal.
        for step in ["up.after-control-initdb", "up.after-primary-initdb", "up.after-schema", "up.after-basebackup",
                     "up.before-synchronous-standbys"] {
            let crashed = try topology.residency(["up"], crashAt: step)
            #expect(crashed.status == 137, "up was to be killed at \(step): \(crashed.text)")
            #expect(crashed.text.contains("crash point \(step) reached"))
        }
        let resumed = try topology.residency(["up"])
        #expect(resumed.status == 0, "\(resumed.text)")
        let status = try topology.residency(["status"])
        #expect(status.status == 0, "\(status.text)")
        #expect(try topology.serverPIDs().count == 7)

        // A tenant whose creation was killed after its rows were written, before the
        // catalogue committed: not in the catalogue; creating it again gives exactly its rows.
        // The same, killed after its role was created: the next creation replaces role and passfile.
        for point in ["tenant.after-role", "tenant.after-data"] {
            let killed = try topology.residency(["tenant", "create", "acme", "--realm", "r1", "--demo-rows", "7"], crashAt: point)
            #expect(killed.status == 137, "\(point): \(killed.text)")
            #expect(try topology.control().tenants().isEmpty)
        }
        #expect(try topology.residency(["tenant", "create", "acme", "--realm", "r1", "--demo-rows", "7"]).status == 0)
        let primary = try topology.nodes().first { $0.role == .primary && $0.node.shard == "west-1" }!
        #expect(try topology.connect(port: primary.port).query("SELECT count(*) FROM jira.issues WHERE tenant_id = 'acme'").scalar == "7")
        let acme = try TenantCredentials(layout: topology.layout).connect(TenantID(validating: "acme")!, port: primary.port)
        #expect(try acme.query("SELECT count(*) FROM jira.issues").scalar == "7")

        // down stops every server by its pid, and nothing of them is left.
        let pids = try topology.serverPIDs()
        let down = try topology.residency(["down", "--json"])
        #expect(down.status == 0, "\(down.text)")
        for (server, pid) in pids {
            #expect(!LocalNodeManager.isAlive(pid), "\(server) (pid \(pid)) survived down")
        }
        #expect(try topology.serverPIDs().isEmpty)
        #expect(try topology.residency(["status"]).status == 2, "status without a control server exits 2")

        // up on a stopped topology starts every node again in its recorded role.
        let restarted = try topology.residency(["up"])
        #expect(restarted.status == 0, "\(restarted.text)")
        #expect(restarted.text.contains("started: control"))
        #expect(try topology.residency(["status"]).status == 0)
        #expect(try topology.connect(port: primary.port).query("SELECT count(*) FROM jira.issues WHERE tenant_id = 'acme'").scalar == "7")

        // down --purge removes the state and the server data, but not the vault: the WAL
        // the shards archived is retained (write once) and outlives the topology.
        let dataRoot = try topology.layout.dataRoot
        let purged = try topology.residency(["down", "--purge", "--json"])
        #expect(purged.status == 0)
        #expect(purged.text.contains("\"kept_vault\""), "\(purged.text)")
        #expect(FileManager.default.fileExists(atPath: dataRoot + "/vault"))
        #expect(FileManager.default.fileExists(atPath: dataRoot + "/keys"))
        let left = try FileManager.default.contentsOfDirectory(atPath: dataRoot).sorted()
        #expect(left == ["keys", "vault"], "\(left)")
        #expect(!FileManager.default.fileExists(atPath: topology.statePath + "/layout.json"))
        try? FileManager.default.removeItem(atPath: dataRoot)
    }

    @Test func commandsOnAStateDirectoryWithoutATopologyExitTwoAndSaySo() throws {
        let topology = try TestTopology(regions: ["solo"], zones: 2)
        defer { topology.destroy() }
        let status = try topology.residency(["status"])
        #expect(status.status == 2)
        #expect(status.text.contains("run `residency up` first"))
        #expect(try topology.residency(["tenant", "list"]).status == 2)
    }

    @Test func validateReportsProblemsWithPositionsAndExits65() throws {
        let topology = try TestTopology(regions: ["solo"], zones: 2)
        defer { topology.destroy() }
        #expect(try topology.residency(["validate"]).status == 0)
        try "region: solo\nzones: [solo-a]\nports: 40000-40009\nshards:\n  - id: solo-1\n"
            .write(toFile: topology.topologyDirectory + "/solo.yaml", atomically: true, encoding: .utf8)
        let invalid = try topology.residency(["validate"])
        #expect(invalid.status == 65)
        #expect(invalid.text.contains("/regions/solo.yaml:5:9: shard 'solo-1' has 1 zone(s)"), "\(invalid.text)")
        let json = try topology.residency(["validate", "--json"])
        #expect(json.status == 65)
        #expect(json.text.contains("\"valid\" : false"))
    }

    @Test func upRefusesBeforeCreatingAnythingWhenAnotherProcessHoldsAPort() throws {
        let topology = try TestTopology(regions: ["solo"], zones: 2)
        defer { topology.destroy() }
        let port = topology.firstPorts[0] + 1
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        #expect(bound == 0 && listen(fd, 1) == 0)
        let refused = try topology.residency(["up"])
        #expect(refused.status == 2)
        #expect(refused.text.contains("another process listens on port \(port) (needed by solo-1/solo-b)"), "\(refused.text)")
        #expect(!FileManager.default.fileExists(atPath: topology.statePath + "/layout.json"))
    }

    @Test func helpTeachesTheCommandsAndTheExitCodes() throws {
        let topology = try TestTopology(regions: ["solo"], zones: 2)
        defer { topology.destroy() }
        let help = try CommandRunner.launch([TestTopology.executable, "--help"])
        #expect(help.status == 0)
        for text in ["validate", "up", "status", "down", "tenant", "Exit codes", "65 invalid input"] {
            #expect(help.text.contains(text), "--help lacks \(text)")
        }
        let upHelp = try CommandRunner.launch([TestTopology.executable, "up", "--help"])
        for text in ["--topology", "--state", "--demo", "--json", "RESIDENCY_STATE", "initdb"] {
            #expect(upHelp.text.contains(text), "up --help lacks \(text)")
        }
        let createHelp = try CommandRunner.launch([TestTopology.executable, "tenant", "create", "--help"])
        #expect(createHelp.text.contains("[a-z0-9-]{1,63}"))
    }

    @Test func drillCheckValidatesEveryShippedScenarioAndRefusesABadOneTouchingNoServer() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let simulations = root.appendingPathComponent("simulations").path
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("residency-check-\(UInt64.random(in: 0...UInt64.max))").path
        for file in try FileManager.default.contentsOfDirectory(atPath: simulations).filter({ $0.hasSuffix(".yaml") }).sorted() {
            let checked = try CommandRunner.launch([TestTopology.executable, "drill", "\(simulations)/\(file)", "--check", "--state", state])
            #expect(checked.status == 0, "\(file): \(checked.text)")
            #expect(checked.text.contains("is valid against"), "\(file): \(checked.text)")
        }
        let bad = FileManager.default.temporaryDirectory.appendingPathComponent("residency-bad-\(UInt64.random(in: 0...UInt64.max)).yaml").path
        defer { try? FileManager.default.removeItem(atPath: bad) }
        try """
            name: "../\\e[31mevil"
            topology: \(root.path)/regions
            duration_s: 10
            tenants:
              - name: t1
                realm: eu
            faults:
              - at_s: 1
                action: move
                tenant: t1
                to: us
                region: eu-central
            targets:
              rpo_max: 0
            """.write(toFile: bad, atomically: true, encoding: .utf8)
        let refused = try CommandRunner.launch([TestTopology.executable, "drill", bad, "--check", "--state", state])
        #expect(refused.status == 65, "\(refused.text)")
        #expect(refused.text.contains("scenario name '../\\u{1B}[31mevil' is not valid"), "\(refused.text)")
        #expect(!refused.text.contains("\u{1B}"), "an escape sequence reached the terminal raw")
        #expect(!FileManager.default.fileExists(atPath: state), "--check created the state directory")

        // Only the move's region is wrong now: it is not in the move's target realm.
        try String(contentsOfFile: bad, encoding: .utf8).replacing("\"../\\e[31mevil\"", with: "region-mismatch").write(toFile: bad, atomically: true, encoding: .utf8)
        let mismatch = try CommandRunner.launch([TestTopology.executable, "drill", bad, "--check", "--state", state])
        #expect(mismatch.status == 65)
        #expect(mismatch.text.contains(":12:13: move of t1: region 'eu-central' is not in its target realm 'us'"), "\(mismatch.text)")
    }

    @Test func simulateGivesByteIdenticalOutputForOneSeedAndRefusesBadArguments() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let arguments = [TestTopology.executable, "simulate", "--random", "--seed", "3", "--runs", "2", "--seconds", "60", "--json",
                         "--topology", root.appendingPathComponent("regions").path]
        let first = try CommandRunner.launch(arguments)
        let second = try CommandRunner.launch(arguments)
        #expect(first.status == 0, "\(first.text)")
        #expect(first.text == second.text)
        #expect(first.text.contains("\"passed\" : true"))
        #expect(try CommandRunner.launch([TestTopology.executable, "simulate", "--seed", "3"]).status == 64, "a scenario file is not built yet")
        #expect(try CommandRunner.launch([TestTopology.executable, "simulate", "--random", "--runs", "0"]).status == 64)
    }

    @Test func simulateRunsADrillFileAndSavesAFailingRunShortenedForReplayAndForTheRealProcesses() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let drill = try CommandRunner.launch([TestTopology.executable, "simulate", root.appendingPathComponent("simulations/zone-power-loss.yaml").path, "--runs", "2"])
        #expect(drill.status == 0, "\(drill.text)")
        #expect(drill.text.contains("power-loss of eu-central-") && drill.text.contains("(the zone of eu-central-1's primary)"), "\(drill.text)")
        let move = try CommandRunner.launch([TestTopology.executable, "simulate", root.appendingPathComponent("simulations/move-fault-at-freeze.yaml").path])
        #expect(move.status == 0, "\(move.text)")
        #expect(move.text.contains("move: prepared > copying >") && move.text.contains("where the tenant is routed"), "\(move.text)")
        let twoMoves = try CommandRunner.launch([TestTopology.executable, "simulate", root.appendingPathComponent("simulations/move-with-zone-loss.yaml").path])
        #expect(twoMoves.status == 2 && twoMoves.text.contains("a second move"), "\(twoMoves.text)")
        #expect(try CommandRunner.launch([TestTopology.executable, "simulate", "--random", root.appendingPathComponent("simulations/zone-power-loss.yaml").path]).status == 64)

        // A rule broken on purpose (test-only switch): the failing run is shortened and saved.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("failing-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let broken = ["/usr/bin/env", "RESIDENCY_SIMULATE_BROKEN_RULE=acknowledge-without-standby", TestTopology.executable, "simulate"]
        let failing = try CommandRunner.launch(broken + ["--random", "--seed", "2", "--topology", root.appendingPathComponent("regions").path, "--save-failing", folder])
        #expect(failing.status == 1, "\(failing.text)")
        #expect(failing.text.contains("shortened schedule ("), "\(failing.text)")
        #expect(failing.text.contains("replay: residency simulate \(folder)/sim-2.json --seed 2"), "\(failing.text)")
        let replayed = try CommandRunner.launch(broken + ["\(folder)/sim-2.json", "--seed", "2"])
        #expect(replayed.status == 1)
        #expect(replayed.text.contains("VIOLATION"), "\(replayed.text)")
        let check = try CommandRunner.launch([TestTopology.executable, "drill", "\(folder)/sim-2.yaml", "--check"])
        #expect(check.status == 0, "the saved drill is valid for the real processes: \(check.text)")
    }

    @Test func simulateSLAPrintsTheDistributionAsTextJSONAndHTML() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let regions = root.appendingPathComponent("regions").path
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sla-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let html = scratch.appendingPathComponent("sla.html").path
        let base = [TestTopology.executable, "simulate", "sla", "--months", "2", "--runs", "6", "--zone-mtbf-days", "20", "--topology", regions]
        let text = try CommandRunner.launch(base + ["--html", html])
        #expect(text.status == 0, "\(text.text)")
        for expected in ["monthly uptime of a shard", "p50", "p1", "worst", "premium", "enterprise", "below target", "expected credit"] {
            #expect(text.text.contains(expected), "no '\(expected)' in:\n\(text.text)")
        }
        let moving = try CommandRunner.launch(base + ["--moves-per-month", "3"])
        #expect(moving.status == 0 && moving.text.contains("residency move(s) (3.0 per month)"), "\(moving.text)")
        let page = try String(contentsOfFile: html, encoding: .utf8)
        #expect(page.contains("<svg") && page.contains("</html>"))
        let json = try CommandRunner.launch(base + ["--json", "--jobs", "1"])
        let again = try CommandRunner.launch(base + ["--json", "--jobs", "2"])
        #expect(json.status == 0)
        #expect(json.text == again.text, "the same options give the same output, whatever --jobs")
        let document = try JSONSerialization.jsonObject(with: Data(json.text.utf8)) as? [String: Any]
        let forecast = document?["forecast"] as? [String: Any]
        #expect(forecast?["shard_months"] as? Int == 6 * 2 * 3)
        #expect((forecast?["tiers"] as? [[String: Any]])?.count == 2)

        // Calibration from drill results: a power loss recovered in 900 and 1,100 ms.
        let drills = scratch.appendingPathComponent("drills")
        try FileManager.default.createDirectory(at: drills, withIntermediateDirectories: true)
        try #"{"faults": [{"action": "power-loss", "zone": "us-east-a"}], "recovery": [{"shard": "us-east-1", "rto_ms": 900}, {"shard": "us-east-2", "rto_ms": 1100}]}"#
            .write(to: drills.appendingPathComponent("one.json"), atomically: true, encoding: .utf8)
        let calibrated = try CommandRunner.launch(base + ["--calibrate-from", drills.path])
        #expect(calibrated.status == 0, "\(calibrated.text)")
        #expect(calibrated.text.contains("real power-loss RTO median 900 ms"), "\(calibrated.text)")
        let empty = scratch.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        #expect(try CommandRunner.launch(base + ["--calibrate-from", empty.path]).status == 65)

        for bad in [["--months", "0"], ["--runs", "2000000"], ["--zone-mtbf-days", "nan"], ["--html", scratch.appendingPathComponent("x.txt").path]] {
            let refused = try CommandRunner.launch(base + bad)
            #expect(refused.status == 64, "\(bad): \(refused.text)")
            #expect(refused.text.contains(bad[1]), "the offending value is named: \(refused.text)")
        }
    }

    @Test func aWrongCommandLineExits64() throws {
        let topology = try TestTopology(regions: ["solo"], zones: 2)
        defer { topology.destroy() }
        #expect(try topology.residency(["tenant", "create"]).status == 64)
        #expect(try topology.residency(["status", "--no-such-flag"]).status == 64)
        // What argument parser quotes back is escaped too.
        let escaped = try topology.residency(["status", "--no-such-\u{1B}[2J"])
        #expect(escaped.status == 64)
        #expect(!escaped.text.contains("\u{1B}"), "\(escaped.text)")
        #expect(escaped.text.contains("\\u{1B}"), "\(escaped.text)")
    }
}
