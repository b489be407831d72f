import Foundation
import ResidencyCore
import ResidencyPostgres
import ResidencyRuntime
import ResidencyVault
import Testing

/// The vault against real servers: every shard member archives its WAL, base backups stream
/// from a standby, point-in-time restore holds exactly the commits acknowledged before the
/// target, and a damaged or incomplete archive fails a restore loudly.
@Suite(.serialized) struct BackupTests {
    let topology: TestTopology

    init() throws { topology = try SharedTopology.get() }

    struct Taken: Decodable {
        struct Backup: Decodable {
            let id: String
            let shard: String
            let source: String
            let systemIdentifier: String
            enum CodingKeys: String, CodingKey { case id, shard, source, systemIdentifier = "system_identifier" }
        }
        let backup: Backup
    }

    struct Restored: Decodable {
        struct Server: Decodable {
            let server: String
            let port: Int
        }
        let restored: Server
    }

    func take(_ shard: String) throws -> Taken.Backup {
        let taken = try topology.residency(["backup", "take", "--shard", shard, "--json"])
        #expect(taken.status == 0, "\(taken.text)")
        return try JSONDecoder().decode(Taken.self, from: Data(jsonPart(taken.text).utf8)).backup
    }

    /// The JSON document of an output that may have log lines on stderr before it.
    func jsonPart(_ text: String) -> String {
        guard let start = text.firstIndex(of: "{"), let end = text.lastIndex(of: "}") else { return text }
        return String(text[start...end])
    }

    func primaryPort(_ shard: String) throws -> Int {
        let found = try topology.nodes().first { $0.role == .primary && $0.node.shard == ShardID(shard) }
        guard let found else { throw TestError("no primary of \(shard)") }
        return found.port
    }

    func vault(_ region: String) throws -> Vault {
        try VaultLayout.load(VaultLayout.path(dataRoot: topology.layout.dataRoot)).vault(region: region)
    }

    @Test func pointInTimeRestoreHoldsEveryCommitAcknowledgedBeforeTheTargetAndNoneStartedAfter() throws {
        let backup = try take("north-1")
        #expect(backup.source != "north-1/" + (try topology.nodes().first { $0.role == .primary && $0.node.shard == "north-1" }!.node.zone.rawValue),
                "a base backup reads from a standby while one is healthy")
        let writer = try TenantCredentials(layout: topology.layout).connect(TenantID(validating: "acme")!, port: try primaryPort("north-1"))
        let run = UUID().uuidString.prefix(8).lowercased()
        var acknowledgedBefore: [String] = []
        var startedAfter: [String] = []
        var target: Date?
        for index in 0..<60 {
            if index == 30 {
                usleep(20_000)
                target = Date()
                usleep(20_000)
            }
            let key = "PITR-\(run)-\(index)"
            let started = Date()
            try writer.query("INSERT INTO jira.issues (tenant_id, key, summary) VALUES ('acme', $1, 'pitr')", [key])
            let acknowledged = Date()
            if let target, started > target { startedAfter.append(key) }
            if target == nil || acknowledged < target! { acknowledgedBefore.append(key) }
            usleep(5_000)
        }
        let at = try #require(target)
        let stamp = String(format: "@%.6f", at.timeIntervalSince1970)
        let restore = try topology.residency(["backup", "restore", "--shard", "north-1", "--to-time", stamp, "--json"])
        #expect(restore.status == 0, "\(restore.text)")
        let restored = try JSONDecoder().decode(Restored.self, from: Data(jsonPart(restore.text).utf8)).restored
        defer { _ = try? topology.residency(["backup", "discard", restored.server]) }
        let reader = try topology.connect(port: restored.port)
        let present = Set(try reader.query("SELECT key FROM jira.issues WHERE key LIKE $1", ["PITR-\(run)-%"]).rows.compactMap { $0[0] })
        #expect(acknowledgedBefore.count >= 29)
        for key in acknowledgedBefore { #expect(present.contains(key), "\(key) was acknowledged before the target and is missing") }
        for key in startedAfter { #expect(!present.contains(key), "\(key) started after the target and was restored") }
        #expect(try reader.query("SELECT pg_is_in_recovery()").scalar == "f")
        // The restored server never archives into the shard's archive.
        #expect(try reader.query("SHOW archive_mode").scalar == "off")
        // The live shard is untouched by the restore.
        #expect(try topology.connect(port: try primaryPort("north-1")).query(
            "SELECT count(*) FROM jira.issues WHERE key LIKE $1", ["PITR-\(run)-%"]).scalar == "60")

        // verify: every object against the manifest, then a restore that starts.
        let verified = try topology.residency(["backup", "verify", "north-1/\(backup.id)"])
        #expect(verified.status == 0, "\(verified.text)")
        #expect(verified.text.contains("restored into a scratch server"))
        // purge deletes nothing that is retained.
        let purge = try topology.residency(["backup", "purge", "--json"])
        #expect(purge.status == 0, "\(purge.text)")
        struct Purged: Decodable {
            struct Region: Decodable { let deleted: [String]; let kept: Int }
            let regions: [Region]
        }
        let regions = try JSONDecoder().decode(Purged.self, from: Data(jsonPart(purge.text).utf8)).regions
        #expect(regions.allSatisfy { $0.deleted.isEmpty } && regions.contains { $0.kept > 0 }, "\(purge.text)")
        #expect(try vault("north").storage.exists("base/north-1/\(backup.id)/base.tar"))
    }

    /// A base backup killed between its data and its manifest is not a backup: `list` does not
    /// show it, a restore never chooses it, and the next `take` makes a whole one.
    @Test func aBaseBackupKilledBeforeItsManifestIsNotListedAndTheNextOneIsWhole() throws {
        let before = try topology.residency(["backup", "list", "--shard", "south-1", "--json"]).text
        let killed = try topology.residency(["backup", "take", "--shard", "south-1"], crashAt: "backup.after-data")
        #expect(killed.status != 0, "\(killed.text)")
        #expect(try topology.residency(["backup", "list", "--shard", "south-1", "--json"]).text == before)
        let objects = try vault("south").storage.list(prefix: "base/south-1/").map(\.name)
        #expect(objects.filter { $0.hasSuffix("/base.tar") }.count == objects.filter { $0.hasSuffix("/manifest.json") }.count + 1, "\(objects)")
        let taken = try take("south-1")
        #expect(try topology.residency(["backup", "list", "--shard", "south-1", "--json"]).text.contains(taken.id))
    }

    @Test func everyMemberArchivesAndStoredObjectsAreReadOnlyAndRefuseOverwrite() throws {
        let port = try primaryPort("north-1")
        let admin = try topology.connect(port: port)
        let segment = try #require(try admin.query("SELECT pg_walfile_name(pg_current_wal_insert_lsn())").scalar)
        try admin.execute("SELECT pg_logical_emit_message(false, 'test', 'x')")
        try admin.execute("SELECT pg_switch_wal()")
        let system = try #require(try admin.query("SELECT system_identifier FROM pg_control_system()").scalar)
        let vault = try vault("north")
        let name = "wal/north-1/\(system)/\(segment)"
        #expect(eventually { vault.storage.exists(name) }, "\(name) was not archived")
        let mode = try FileManager.default.attributesOfItem(atPath: vault.storage.location + "/objects/" + name)[.posixPermissions] as? Int
        #expect(mode == 0o444)
        var bytes = MemoryStream([1, 2, 3])
        #expect(throws: VaultError.self) { try vault.store(name, from: &bytes, retainUntil: Date()) }
        #expect(throws: VaultError.self) { try vault.storage.delete(name, now: Date()) }
        // The residency report lists the vault copies of every tenant's data, in its realm.
        let report = try topology.residency(["report", "residency", "--json"])
        #expect(report.status == 0, "\(report.text)")
        struct Report: Decodable {
            struct Copy: Decodable { let tenant: String; let region: String; let holds: String; let flagged: Bool }
            let vaultCopies: [Copy]
            enum CodingKeys: String, CodingKey { case vaultCopies = "vault_copies" }
        }
        let copies = try JSONDecoder().decode(Report.self, from: Data(jsonPart(report.text).utf8)).vaultCopies
        #expect(copies.contains { $0.tenant == "acme" && $0.region == "north" && $0.holds == "WAL archive" }, "\(copies)")
        #expect(copies.contains { $0.tenant == "initech" && $0.region == "south" }, "\(copies)")
        #expect(!copies.contains { $0.tenant == "initech" && $0.region == "north" })
        #expect(copies.allSatisfy { !$0.flagged })
        // Every member's archiver reports nothing failed (standbys archive too).
        for node in try topology.nodes() where node.node.shard == "north-1" {
            let stats = try topology.connect(port: node.port).query("SELECT archived_count, failed_count FROM pg_stat_archiver").rows.first
            #expect((Int(stats?[0] ?? "") ?? 0) > 0, "\(node.node) archived nothing")
            #expect(stats?[1] == "0", "\(node.node) failed to archive: \(String(describing: stats))")
        }
    }

    /// On the south shard, whose archive this test may damage: a segment that does not
    /// authenticate stops recovery (wal-fetch exits 126, not "not found"), a missing one is
    /// refused before any server starts, and a changed byte in a base backup fails verify.
    @Test func aDamagedOrIncompleteArchiveFailsARestoreLoudly() throws {
        let backup = try take("south-1")
        let port = try primaryPort("south-1")
        let admin = try topology.connect(port: port)
        let writer = try TenantCredentials(layout: topology.layout).connect(TenantID(validating: "initech")!, port: port)
        var segments: [String] = []
        for index in 0..<3 {
            try writer.query("INSERT INTO jira.issues (tenant_id, key, summary) VALUES ('initech', $1, 'gap')", ["GAP-\(UUID().uuidString.prefix(6))-\(index)"])
            segments.append(try #require(try admin.query("SELECT pg_walfile_name(pg_current_wal_insert_lsn())").scalar))
            try admin.execute("SELECT pg_switch_wal()")
        }
        let vault = try vault("south")
        let victim = "wal/south-1/\(backup.systemIdentifier)/\(segments[1])"
        #expect(eventually { vault.storage.exists(victim) })
        let path = vault.storage.location + "/objects/" + victim
        let target = String(format: "@%.6f", Date().timeIntervalSince1970)

        // One byte changed in the middle of a segment the restore needs.
        chmod(path, 0o644)
        var stored = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        stored[stored.count / 2] ^= 0x40
        try Data(stored).write(to: URL(fileURLWithPath: path))
        let corrupt = try topology.residency(["backup", "restore", "--shard", "south-1", "--to-time", target])
        #expect(corrupt.status == 2, "\(corrupt.text)")
        #expect(corrupt.text.contains("does not authenticate"), "\(corrupt.text)")

        // The segment gone: refused up front, naming it.
        try FileManager.default.removeItem(atPath: path)
        let gap = try topology.residency(["backup", "restore", "--shard", "south-1", "--to-time", target])
        #expect(gap.status == 2, "\(gap.text)")
        #expect(gap.text.contains("gap") && gap.text.contains(String(segments[1].suffix(8))), "\(gap.text)")

        // A changed byte in the base backup: verify lists it and exits 1.
        let tar = vault.storage.location + "/objects/base/south-1/\(backup.id)/base.tar"
        chmod(tar, 0o644)
        var base = try [UInt8](Data(contentsOf: URL(fileURLWithPath: tar)))
        base[base.count / 3] ^= 0x01
        try Data(base).write(to: URL(fileURLWithPath: tar))
        let verify = try topology.residency(["backup", "verify", "south-1/\(backup.id)"])
        #expect(verify.status == 1, "\(verify.text)")
        #expect(verify.text.contains("FAIL"), "\(verify.text)")
    }

    /// Every table's digest of `tenant`'s rows on `connection`.
    func digests(_ tenant: String, on connection: Connection) throws -> [String: TableDigest] {
        try RowDigest.prepare(connection)
        let apps = try topology.control().requireTopology().apps
        var result: [String: TableDigest] = [:]
        for table in TenantSchema.tables(apps: apps) {
            result["\(table.schema).\(table.table)"] = try RowDigest.digest(schema: table.schema, table: table.table,
                                                                            tenant: TenantID(validating: tenant)!, on: connection)
        }
        return result
    }

    /// A tenant's rows deleted by mistake come back as they were at the target, its
    /// neighbour's rows are not touched, and a restore killed after its freeze or after its
    /// swap leaves the tenant frozen (never half-restored) until the same command runs again.
    @Test(arguments: ["tenant-restore.after-freeze", "tenant-restore.after-retained-copy", "tenant-restore.after-swap"])
    func aTenantRestoreBringsBackItsRowsLeavesItsNeighbourAloneAndResumesAfterACrash(crashAt: String) throws {
        _ = try take("north-1")
        let port = try primaryPort("north-1")
        let admin = try topology.connect(port: port)
        let writer = try TenantCredentials(layout: topology.layout).connect(TenantID(validating: "acme")!, port: port)
        try writer.query("INSERT INTO jira.issues (tenant_id, key, summary) VALUES ('acme', $1, 'before the mistake')", ["RT-\(UUID().uuidString.prefix(8))"])
        let acmeBefore = try digests("acme", on: admin)
        let globexBefore = try digests("globex", on: admin)
        usleep(50_000)
        let target = String(format: "@%.6f", Date().timeIntervalSince1970)
        usleep(50_000)
        try admin.execute("BEGIN; SET LOCAL session_replication_role = replica; DELETE FROM jira.comments WHERE tenant_id = 'acme'; DELETE FROM jira.issues WHERE tenant_id = 'acme'; COMMIT")
        #expect(try digests("acme", on: admin)["jira.issues"]?.count == 0)

        let crashed = try topology.residency(["backup", "restore", "--tenant", "acme", "--to-time", target], crashAt: crashAt)
        #expect(crashed.status != 0, "\(crashed.text)")
        #expect(try admin.query("SELECT count(*) FROM residency.frozen_tenants WHERE tenant_id = 'acme'").scalar == "1", "the crash left acme frozen")
        let issues = try digests("acme", on: admin)["jira.issues"]
        #expect(issues == acmeBefore["jira.issues"] || issues?.count == 0, "never half-restored")

        let resumed = try topology.residency(["backup", "restore", "--tenant", "acme", "--to-time", target, "--json"])
        #expect(resumed.status == 0, "\(resumed.text)")
        #expect(try admin.query("SELECT count(*) FROM residency.frozen_tenants WHERE tenant_id = 'acme'").scalar == "0")
        #expect(try digests("acme", on: admin) == acmeBefore)
        #expect(try digests("globex", on: admin) == globexBefore)
        // The scratch server the killed run left is gone with the one of the rerun.
        let restores = (try? FileManager.default.contentsOfDirectory(atPath: try topology.layout.dataRoot + "/restores")) ?? []
        #expect(!restores.contains { $0.hasPrefix("tenant-acme-") }, "\(restores)")
        // The tenant writes again, and its replaced rows are in the vault.
        try writer.query("INSERT INTO jira.issues (tenant_id, key, summary) VALUES ('acme', $1, 'after the restore')", ["RT-\(UUID().uuidString.prefix(8))"])
        #expect(resumed.text.contains("replaced_copy"), "\(resumed.text)")
        #expect(try vault("north").storage.list(prefix: "tenants/acme/").count >= 5)
    }

    /// `--into`: the tenant's rows as of the target copied into a new tenant, the tenant
    /// itself and its neighbour untouched; a second run with the same name is refused.
    @Test func aTenantsPastRowsCanBeCopiedIntoANewTenant() throws {
        _ = try take("north-1")
        let port = try primaryPort("north-1")
        let admin = try topology.connect(port: port)
        let counts = "SELECT count(*) FROM jira.issues WHERE tenant_id = $1"
        let acmeThen = try admin.query(counts, ["acme"]).scalar
        usleep(50_000)
        let target = String(format: "@%.6f", Date().timeIntervalSince1970)
        usleep(50_000)
        try admin.execute("BEGIN; SET LOCAL session_replication_role = replica; DELETE FROM jira.issues WHERE tenant_id = 'acme' AND key NOT LIKE 'ACME-%'; COMMIT")
        let acmeNow = try digests("acme", on: admin)
        let globexNow = try digests("globex", on: admin)
        let copied = try topology.residency(["backup", "restore", "--tenant", "acme", "--to-time", target, "--into", "acme-then", "--json"])
        #expect(copied.status == 0, "\(copied.text)")
        defer { _ = try? topology.residency(["tenant", "delete", "acme-then", "--yes"]) }
        let placed = try #require(try topology.control().tenants().first { $0.id.rawValue == "acme-then" })
        let reader = try topology.connect(port: try primaryPort(placed.shard.rawValue))
        #expect(try reader.query(counts, ["acme-then"]).scalar == acmeThen)
        #expect(try digests("acme", on: admin) == acmeNow)
        #expect(try digests("globex", on: admin) == globexNow)
        let again = try topology.residency(["backup", "restore", "--tenant", "acme", "--to-time", target, "--into", "acme-then"])
        #expect(again.status == 65 && again.text.contains("acme-then exists"), "\(again.text)")
    }

    /// The leading coordinator backs up every shard whose newest base backup is older than
    /// `backups.interval_hours`, and records it in the event log.
    @Test func theLeadingCoordinatorTakesTheDueBaseBackups() throws {
        let own = try TestTopology(regions: ["solo"], zones: 3, backupIntervalHours: 24)
        defer { own.destroy() }
        let up = try own.residency(["up", "--no-coordinator"])
        #expect(up.status == 0, "\(up.text)")
        let coordinator = CoordinatorProcess(state: StateDirectory(option: own.statePath))
        _ = try coordinator.start(executable: TestTopology.executable, arguments: ["--first-backup-after", "0"])
        defer { coordinator.stop() }
        #expect(eventually(120) {
            let listed = (try? own.residency(["backup", "list", "--shard", "solo-1", "--json"]))?.text ?? ""
            return listed.contains("\"source\"")
        }, "no base backup of solo-1 after 120 s: \((try? String(contentsOfFile: coordinator.logFile, encoding: .utf8)) ?? "")")
        #expect(try own.control().events(limit: 50).contains { $0.kind == "backup.taken" && $0.shard == "solo-1" })
        // Due once a day: the next rounds take none.
        usleep(1_500_000)
        let listed = try own.residency(["backup", "list", "--shard", "solo-1", "--json"]).text
        #expect(listed.components(separatedBy: "\"source\"").count == 2, "\(listed)")
    }

    @Test func badInputIsRefusedWithTheValue() throws {
        let badTime = try topology.residency(["backup", "restore", "--shard", "north-1", "--to-time", "yesterday"])
        #expect(badTime.status == 65 && badTime.text.contains("yesterday"), "\(badTime.text)")
        let future = try topology.residency(["backup", "restore", "--shard", "north-1", "--to-time", "2999-01-01T00:00:00Z"])
        #expect(future.status == 65 && future.text.contains("future"), "\(future.text)")
        let unknown = try topology.residency(["backup", "take", "--shard", "nowhere-9"])
        #expect(unknown.status == 65 && unknown.text.contains("nowhere-9"), "\(unknown.text)")
        let both = try topology.residency(["backup", "restore", "--tenant", "acme", "--shard", "north-1", "--to-time", "@1"])
        #expect(both.status == 65, "\(both.text)")
        let noTime = try topology.residency(["backup", "restore", "--tenant", "acme"])
        #expect(noTime.status == 65 && noTime.text.contains("--to-time"), "\(noTime.text)")
        let nobody = try topology.residency(["backup", "restore", "--tenant", "nobody", "--to-time", "@1"])
        #expect(nobody.status == 65 && nobody.text.contains("nobody"), "\(nobody.text)")
        let badID = try topology.residency(["backup", "verify", "north-1"])
        #expect(badID.status == 65, "\(badID.text)")
        let missing = try CommandRunner.launch([TestTopology.executable, "wal-fetch", "--config", VaultLayout.path(dataRoot: try topology.layout.dataRoot), "--shard", "north-1",
                                              "--system-id", "1", "000000010000000000000001", "/tmp/residency-never-written"])
        #expect(missing.status == 74, "a missing segment is its own exit code: \(missing.text)")
    }

    /// `backup restore --promote`: refused without a coordinator, refused (nothing staged)
    /// while the primary answers unless --force; forced, the restored data becomes the shard
    /// in another zone, even though the coordinator dies after any one of the restore's steps:
    /// its successor resumes. The shard then holds exactly the commits acknowledged before the
    /// target, acknowledges new ones, rebuilds every other member, and its archive goes on
    /// along the restored timeline (a restore from the older backup to the end finds the new
    /// commit). A run killed after staging leaves the shard untouched and says how to go on.
    @Test(arguments: ShardOperation.Step.order(for: .restore).filter { $0 != .done }.map { "coordinator.after-\($0.rawValue)" })
    func aRestoreMadeTheShardHoldsExactlyThePastAndTheShardGoesOn(crashAt: String) throws {
        // The refusals and the archive's continuity once; the successor's resumption at every step.
        let thorough = crashAt == "coordinator.after-install"
        let own = try TestTopology(regions: ["solo"], zones: 3)
        defer { own.destroy() }
        #expect(try own.residency(["up", "--no-coordinator"]).status == 0)
        #expect(try own.residency(["tenant", "create", "acme", "--realm", "r0"]).status == 0)
        let shard = "solo-1"
        let taken = try own.residency(["backup", "take", "--shard", shard, "--json"])
        #expect(taken.status == 0, "\(taken.text)")
        func primary() throws -> (node: NodeID, port: Int) {
            let found = try #require(try own.nodes().first { $0.role == .primary })
            return (found.node, found.port)
        }
        let before = try primary()
        let writer = try TenantCredentials(layout: own.layout).connect(TenantID(validating: "acme")!, port: before.port)
        var acknowledged: [String] = []
        for index in 0..<20 {
            try writer.query("INSERT INTO jira.issues (tenant_id, key, summary) VALUES ('acme', $1, 'before')", ["PAST-\(index)"])
            acknowledged.append("PAST-\(index)")
        }
        usleep(20_000)
        let target = String(format: "@%.6f", Date().timeIntervalSince1970)
        usleep(20_000)
        for index in 0..<20 {
            try writer.query("INSERT INTO jira.issues (tenant_id, key, summary) VALUES ('acme', $1, 'after')", ["LATER-\(index)"])
        }
        let promote = ["backup", "restore", "--shard", shard, "--to-time", target, "--promote", "--timeout", "240"]
        let staging = try own.layout.dataRoot + "/restores/" + RestorePromotion.stagingName(ShardID(shard))

        if thorough {
            let noCoordinator = try own.residency(promote + ["--force"])
            #expect(noCoordinator.status == 2 && noCoordinator.text.contains("coordinator"), "\(noCoordinator.text)")
        }
        let coordinator = CoordinatorProcess(state: StateDirectory(option: own.statePath))
        _ = try coordinator.start(crashAt: crashAt, executable: TestTopology.executable)
        defer { _ = coordinator.stop() }
        #expect(eventually(30) { (try? own.control().leaseHolder()) != nil })
        func refusals() throws {
            let healthy = try own.residency(promote)
            #expect(healthy.status == 1 && healthy.text.contains("--force") && healthy.text.contains(before.node.description), "\(healthy.text)")
            #expect(!FileManager.default.fileExists(atPath: staging), "a refusal stages nothing")
            let badZone = try own.residency(promote + ["--force", "--zone", "nowhere-z"])
            #expect(badZone.status == 65 && badZone.text.contains("nowhere-z"), "\(badZone.text)")

            // Killed after staging: the shard is untouched, a rerun says what to do.
            let killed = try own.residency(promote + ["--force"], crashAt: "promote.after-stage")
            #expect(killed.status != 0)
            #expect(FileManager.default.fileExists(atPath: staging))
            let rerun = try own.residency(promote + ["--force"])
            #expect(rerun.status == 1 && rerun.text.contains("backup discard \(RestorePromotion.stagingName(ShardID(shard)))"), "\(rerun.text)")
            #expect(try primary().node == before.node)
            #expect(try own.residency(["backup", "discard", RestorePromotion.stagingName(ShardID(shard))]).status == 0)
        }
        if thorough { try refusals() }

        // Forced into another zone; the coordinator dies after the step under test and a successor finishes.
        let zone = try #require(try own.nodes().map(\.node).first { $0 != before.node }).zone
        let statePath = own.statePath
        let resumer = Thread {
            let successor = CoordinatorProcess(state: StateDirectory(option: statePath))
            _ = eventually(240) { successor.runningPID == nil }
            _ = try? successor.start(executable: TestTopology.executable)
        }
        resumer.start()
        // The thorough case restores from the older backup below, so it takes none afterwards.
        let forced = try own.residency(promote + ["--force", "--zone", zone.rawValue, "--json"] + (thorough ? ["--no-backup"] : []))
        #expect(forced.status == 0, "\(forced.text)\n\((try? String(contentsOfFile: coordinator.logFile, encoding: .utf8)) ?? "")")
        let events = try own.control().events(limit: 200)
        #expect(events.contains { $0.kind == "restore.resumed" }, "the successor resumed the restore")
        #expect(events.contains { $0.kind == "restore.done" })
        let after = try primary()
        #expect(after.node.zone == zone)
        let reader = try own.connect(port: after.port)
        let keys = Set(try reader.query("SELECT key FROM jira.issues WHERE tenant_id = 'acme' AND (key LIKE 'PAST-%' OR key LIKE 'LATER-%')").rows.compactMap { $0[0] })
        #expect(keys == Set(acknowledged), "the shard holds exactly the commits acknowledged before the target")
        let newWriter = try TenantCredentials(layout: own.layout).connect(TenantID(validating: "acme")!, port: after.port)
        try newWriter.query("INSERT INTO jira.issues (tenant_id, key, summary) VALUES ('acme', 'NEW-1', 'after the restore')")
        #expect(eventually(180) {
            (try? own.connect(port: after.port).query("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'").scalar) == "2"
        }, "every other member is rebuilt from the restored primary")
        #expect(FileManager.default.fileExists(atPath: try own.layout.dataRoot + "/restores/" + RestorePromotion.replacedName(after.node.fileName, epoch: try own.control().shards()[0].epoch)),
                "the node's own data is kept aside")

        guard thorough else {
            // A base backup of the new timeline, taken by the command itself.
            struct Listed: Decodable { struct Backup: Decodable { let timeline: Int }; let backups: [Backup] }
            let listed = try own.residency(["backup", "list", "--shard", shard, "--json"])
            let timelines = try JSONDecoder().decode(Listed.self, from: Data(jsonPart(listed.text).utf8)).backups.map(\.timeline)
            #expect(timelines.contains { $0 > 1 }, "no backup of the new timeline: \(listed.text)")
            return
        }
        // The archive goes on along the restored timeline: from the backup taken before it all.
        let toEnd = try own.residency(["backup", "restore", "--shard", shard, "--json"])
        #expect(toEnd.status == 0, "\(toEnd.text)")
        let restored = try JSONDecoder().decode(Restored.self, from: Data(jsonPart(toEnd.text).utf8)).restored
        defer { _ = try? own.residency(["backup", "discard", restored.server]) }
        let end = try own.connect(port: restored.port)
        #expect(try end.query("SELECT count(*) FROM jira.issues WHERE key = 'NEW-1'").scalar == "1")
        #expect(try end.query("SELECT count(*) FROM jira.issues WHERE key LIKE 'LATER-%'").scalar == "0")
    }
}
