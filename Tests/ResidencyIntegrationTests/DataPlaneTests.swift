import Foundation
import ResidencyCore
import ResidencyPostgres
import ResidencyRuntime
import Testing

/// Against real servers: in-region synchronous replication, tenant isolation, the write fence.
@Suite(.serialized) struct DataPlaneTests {
    let topology: TestTopology

    init() throws { topology = try SharedTopology.get() }

    func primary(of region: String) throws -> (node: NodeID, port: Int) {
        let found = try topology.nodes().first { $0.role == .primary && $0.node.shard == ShardID("\(region)-1") }
        guard let found else { throw TestError("no primary in \(region)") }
        return (found.node, found.port)
    }

    /// A session logged in as `tenant`'s own role, with its own passfile.
    func appConnection(port: Int, tenant: String) throws -> Connection {
        try TenantCredentials(layout: topology.layout).connect(TenantID(validating: tenant)!, port: port)
    }

    @Test func aCommittedRowIsOnBothStandbysOfItsShardAndOnNoNodeOfAnotherRegion() throws {
        let north = try primary(of: "north")
        let id = UUID().uuidString.lowercased()
        let writer = try appConnection(port: north.port, tenant: "acme")
        try writer.query("INSERT INTO jira.issues (tenant_id, id, key, summary) VALUES ('acme', $1::uuid, 'ACME-1', 'replicated')", [id])
        let count = "SELECT count(*) FROM jira.issues WHERE id = $1::uuid"
        for node in try topology.nodes() {
            let reader = try topology.connect(port: node.port)
            if node.node.shard == north.node.shard {
                #expect(try eventually { try reader.query(count, [id]).scalar == "1" }, "row missing on \(node.node)")
            } else {
                #expect(try reader.query(count, [id]).scalar == "0", "row of region north found on \(node.node)")
            }
        }
    }

    @Test func eachPrimaryStreamsToExactlyItsTwoInRegionStandbysInQuorum() throws {
        let nodes = try topology.nodes()
        for primary in nodes where primary.role == .primary {
            let expected = Set(nodes.filter { $0.node.shard == primary.node.shard && $0.role == .standby }.map(\.node.postgresName))
            #expect(expected.count == 2)
            let connection = try topology.connect(port: primary.port)
            #expect(try connection.query("SHOW synchronous_standby_names").scalar
                == ReplicationAdmin.synchronousStandbyNames(nodes.filter { $0.node.shard == primary.node.shard && $0.role == .standby }.map(\.node)))
            let rows = try connection.query("SELECT application_name, state, sync_state FROM pg_stat_replication").rows
            #expect(Set(rows.compactMap { $0[0] }) == expected)
            #expect(rows.allSatisfy { $0[1] == "streaming" && $0[2] == "quorum" }, "\(rows)")
        }
    }

    @Test func everyShardHasItsOwnSystemIdentifierSharedByItsStandbys() throws {
        var identifiers: [ShardID: Set<String>] = [:]
        for node in try topology.nodes() {
            let id = try topology.connect(port: node.port).query("SELECT system_identifier FROM pg_control_system()").scalar ?? ""
            identifiers[node.node.shard, default: []].insert(id)
        }
        #expect(identifiers.values.allSatisfy { $0.count == 1 })
        #expect(Set(identifiers.values.flatMap { $0 }).count == identifiers.count)
    }

    @Test func durabilityIsNotWeakenedAndChecksumsAreOn() throws {
        for node in try topology.nodes() {
            let connection = try topology.connect(port: node.port)
            for (setting, value) in [("fsync", "on"), ("full_page_writes", "on"), ("synchronous_commit", "on"), ("data_checksums", "on"), ("wal_level", "logical")] {
                #expect(try connection.query("SHOW \(setting)").scalar == value, "\(setting) on \(node.node)")
            }
        }
    }

    @Test func tenantRolesAreNoSuperusersCannotBypassRowLevelSecurityAndBelongOnlyToTheTenantsGroup() throws {
        let connection = try topology.connect(port: try primary(of: "north").port)
        let roles = try connection.query("""
            SELECT r.rolname, r.rolsuper, r.rolbypassrls, r.rolcreaterole, r.rolcreatedb, r.rolreplication,
                   coalesce((SELECT string_agg(g.rolname, ',') FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid), '')
            FROM pg_roles r WHERE r.rolname LIKE 'tenant-%' OR r.rolname = $1 ORDER BY 1
            """, [TenantSchema.tenantsRole]).rows
        #expect(roles.map { $0[0] } == ["residency_tenants", "tenant-acme", "tenant-globex"])
        for role in roles {
            #expect(role[1...5].allSatisfy { $0 == "f" }, "\(role)")
            #expect(role[6] == (role[0] == TenantSchema.tenantsRole ? "" : TenantSchema.tenantsRole), "\(role)")
        }
        #expect(try connection.query("SELECT role_name, tenant_id FROM residency.tenant_roles ORDER BY 1").rows
            == [["tenant-acme", "acme"], ["tenant-globex", "globex"]])
    }

    @Test func replicationAndTheControlStoreRunAsRolesOfTheirOwnThatAreNoSuperusers() throws {
        let connection = try topology.connect(port: try primary(of: "north").port)
        let roles = try connection.query("""
            SELECT r.rolname, r.rolsuper, r.rolreplication, r.rolcreaterole, r.rolbypassrls,
                   coalesce((SELECT string_agg(g.rolname, ',' ORDER BY g.rolname) FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid), '')
            FROM pg_roles r WHERE r.rolname IN ('residency_replication', 'residency_coordinator', 'residency_mover') ORDER BY 1
            """).rows
        #expect(roles == [["residency_coordinator", "f", "t", "f", "f", "pg_checkpoint,pg_monitor"],
                          ["residency_mover", "t", "f", "f", "f", ""],  // PostgreSQL 15 gives moves' needs to superusers only
                          ["residency_replication", "f", "t", "f", "f", ""]])
        // Every standby streams as the replication role.
        let senders = try connection.query("SELECT DISTINCT usename FROM pg_stat_replication").rows
        #expect(senders == [["residency_replication"]])
        for standby in try topology.nodes() where standby.role == .standby && standby.node.shard == "north-1" {
            let conninfo = try topology.connect(port: standby.port).query("SHOW primary_conninfo").scalar ?? ""
            #expect(conninfo.contains("user='residency_replication'"), "\(conninfo)")
        }
        // The control database belongs to the control role, which is no superuser.
        let admin = try Connection(ConnectionSettings(port: try topology.layout.controlPort, database: "residency", user: "residency",
                                                      passfile: try topology.layout.passfile))
        #expect(try admin.query("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'residency'").scalar == "residency_control")
        #expect(try admin.query("SELECT rolsuper FROM pg_roles WHERE rolname = 'residency_control'").scalar == "f")
        #expect(try admin.query("SELECT count(*) FROM pg_tables WHERE schemaname = 'control' AND tableowner <> 'residency_control'").scalar == "0")
    }

    @Test func aSessionWhoseLoginRoleIsNoTenantsReachesNoTenantData() throws {
        // The superuser taking on the tenants' group role: row-level security applies, and
        // the login role it keeps maps to no tenant.
        let connection = try topology.connect(port: try primary(of: "north").port)
        try connection.execute("SET ROLE \(TenantSchema.tenantsRole)")
        for statement in ["SELECT count(*) FROM jira.issues", "SELECT count(*) FROM confluence.pages", "SELECT count(*) FROM app_tempo.records",
                          "INSERT INTO jira.issues (tenant_id, key, summary) VALUES ('acme', 'X-1', 'no tenant')"] {
            do {
                try connection.query(statement)
                Issue.record("\(statement) succeeded for a login role that is no tenant's")
            } catch {
                #expect(error.sqlState == TenantSchema.noTenantContextState, "\(statement): \(error)")
            }
        }
    }

    @Test func aTenantsRoleSeesAndWritesOnlyThatTenantsRows() throws {
        let connection = try appConnection(port: try primary(of: "north").port, tenant: "acme")
        let tenants = try connection.query("SELECT DISTINCT tenant_id FROM jira.issues UNION SELECT DISTINCT tenant_id FROM app_tempo.records").rows
        #expect(tenants == [["acme"]])
        let superuser = try topology.connect(port: try primary(of: "north").port)
        #expect(try superuser.query("SELECT count(DISTINCT tenant_id) FROM jira.issues").scalar == "2")
        do {
            try connection.query("INSERT INTO jira.issues (tenant_id, key, summary) VALUES ('globex', 'G-1', 'cross-tenant')")
            Issue.record("acme wrote a row of globex")
        } catch {
            #expect(error.sqlState == "42501")
        }
        #expect(try connection.query("UPDATE jira.issues SET summary = 'x' WHERE tenant_id = 'globex'").rows.isEmpty)
        #expect(try superuser.query("SELECT count(*) FROM jira.issues WHERE tenant_id = 'globex' AND summary = 'x'").scalar == "0")
    }

    @Test func aFrozenTenantsInsertUpdateAndDeleteFailWhileAnotherTenantOnTheShardWrites() throws {
        let port = try primary(of: "north").port
        let superuser = try topology.connect(port: port)
        let acme = TenantID(validating: "acme")!
        try TenantFence.freeze(acme, reason: "test", on: superuser)
        defer { try? TenantFence.unfreeze(acme, on: superuser) }

        let frozen = try appConnection(port: port, tenant: "acme")
        let statements = [
            "INSERT INTO jira.issues (tenant_id, key, summary) VALUES ('acme', 'A-9', 'fenced')",
            "UPDATE jira.issues SET summary = 'fenced' WHERE tenant_id = 'acme'",
            "DELETE FROM app_tempo.records WHERE tenant_id = 'acme'",
        ]
        for statement in statements {
            do {
                try frozen.query(statement)
                Issue.record("a frozen tenant's write succeeded: \(statement)")
            } catch {
                #expect(error.sqlState == TenantSchema.frozenTenantState, "\(statement): \(error)")
                #expect(error.message.contains("tenant acme is frozen"))
            }
        }
        #expect(try frozen.query("SELECT count(*) > 0 FROM jira.issues").scalar == "t", "reads go on")

        let other = try appConnection(port: port, tenant: "globex")
        try other.query("INSERT INTO jira.issues (tenant_id, key, summary) VALUES ('globex', 'G-2', 'still writing')")
        try other.query("UPDATE jira.issues SET summary = 'updated' WHERE key = 'G-2'")
        try other.query("DELETE FROM jira.issues WHERE key = 'G-2'")

        try TenantFence.unfreeze(acme, on: superuser)
        try frozen.query("UPDATE jira.issues SET summary = 'thawed' WHERE key = 'DEMO-1'")
    }

    @Test func freezingWaitsForTransactionsThatBeganBeforeTheFence() throws {
        let port = try primary(of: "south").port
        let inFlight = try appConnection(port: port, tenant: "initech")
        try inFlight.execute("BEGIN")
        try inFlight.query("INSERT INTO jira.issues (tenant_id, key, summary) VALUES ('initech', 'I-1', 'in flight')")

        let frozenAt = Mutex<Date?>(nil)
        let freezer = Thread {
            guard let superuser = try? DataNodes(layout: try self.topology.layout).connect(port: port) else { return }
            _ = try? TenantFence.freeze(TenantID(validating: "initech")!, reason: "test", on: superuser)
            frozenAt.withLock { $0 = Date() }
        }
        freezer.start()
        usleep(500_000)
        #expect(frozenAt.withLock { $0 } == nil, "the freeze returned while a transaction begun before it was open")
        let committedAt = Date()
        try inFlight.execute("COMMIT")
        #expect(eventually(10) { frozenAt.withLock { $0 } != nil })
        #expect((frozenAt.withLock { $0 } ?? .distantPast) >= committedAt)

        let superuser = try topology.connect(port: port)
        try TenantFence.unfreeze(TenantID(validating: "initech")!, on: superuser)
    }

    @Test func aSecondUpLeavesEveryServerPIDAndSettingUnchanged() throws {
        func snapshot() throws -> [String: [[String?]]] {
            var settings: [String: [[String?]]] = [:]
            for node in try topology.nodes() {
                settings[node.node.description] = try topology.connect(port: node.port)
                    .query("SELECT name, setting FROM pg_settings WHERE name NOT IN ('application_name') ORDER BY name").rows
            }
            return settings
        }
        let pids = try topology.serverPIDs()
        let settings = try snapshot()
        #expect(pids.count == 7)
        let again = try topology.residency(["up", "--no-coordinator", "--json"])
        #expect(again.status == 0, "\(again.text)")
        #expect(again.text.contains("\"changed_nothing\" : true"))
        #expect(try topology.serverPIDs() == pids)
        #expect(try snapshot() == settings)
    }

    @Test func statusReportsEveryShardHealthyInItsJSONDocument() throws {
        let status = try topology.residency(["status", "--json"])
        #expect(status.status == 0, "\(status.text)")
        let document = try JSONSerialization.jsonObject(with: Data(status.text.utf8)) as? [String: Any]
        #expect(document?["version"] as? Int == 1)
        #expect(document?["healthy"] as? Bool == true)
        let regions = document?["regions"] as? [[String: Any]] ?? []
        #expect(regions.compactMap { $0["region"] as? String } == ["north", "south"])
        let nodes = regions.flatMap { ($0["shards"] as? [[String: Any]] ?? []).flatMap { $0["nodes"] as? [[String: Any]] ?? [] } }
        #expect(nodes.count == 6)
        #expect(nodes.filter { $0["role"] as? String == "standby" }.allSatisfy {
            $0["replication"] as? String == "streaming" && $0["sync_state"] as? String == "quorum" && $0["replay_lag_bytes"] is Int
        })
    }

    @Test func statusExitsOneWhenAStandbyIsDownAndZeroOnceUpBringsItBack() throws {
        let standby = try topology.nodes().first { $0.role == .standby && $0.node.shard == "south-1" }!
        let layout = try topology.layout
        let manager = LocalNodeManager(binaries: try ServerBinaries.locate(), user: try ServerUser.current(), dataRoot: layout.dataRoot, passfile: layout.passfile)
        try manager.stop(standby.node.fileName)
        let unhealthy = try topology.residency(["status"])
        #expect(unhealthy.status == 1)
        #expect(unhealthy.text.contains("standby \(standby.node) is unreachable"))
        let up = try topology.residency(["up", "--no-coordinator"])
        #expect(up.status == 0)
        #expect(up.text.contains("started: \(standby.node)"))
        #expect(try topology.residency(["status"]).status == 0)
    }

    @Test func tenantCreatePlacesTheTenantInItsRealmAndRefusesBadInputChangingNothing() throws {
        let before = try topology.control().tenants()
        for (arguments, fragment) in [
            (["tenant", "create", "Bad_Name", "--realm", "r0"], "invalid tenant name 'Bad_Name'"),
            (["tenant", "create", "t1", "--realm", "mars"], "unknown realm 'mars'"),
            (["tenant", "create", "t1", "--realm", "r0", "--region", "south"], "region 'south' is not in realm 'r0'"),
            (["tenant", "create", "t1", "--realm", "r0", "--apps", "nope"], "unknown app 'nope'"),
            (["tenant", "create", "t1", "--realm", "r0", "--products", "bitbucket"], "unknown product 'bitbucket'"),
            (["tenant", "create", "acme", "--realm", "r0"], "tenant 'acme' already exists"),
        ] {
            let result = try topology.residency(arguments)
            #expect(result.status == 65, "\(arguments): \(result.text)")
            #expect(result.text.contains(fragment), "\(result.text)")
        }
        #expect(try topology.control().tenants() == before)

        let placed = try topology.residency(["tenant", "create", "wayne", "--realm", "all", "--region", "south", "--json"])
        #expect(placed.status == 0, "\(placed.text)")
        #expect(placed.text.contains("\"shard\" : \"south-1\""))
    }

    @Test func tenantDeleteRemovesRowsRoleAndPassfileFinishesAfterACrashAndLeavesNeighboursAlone() throws {
        let created = try topology.residency(["tenant", "create", "doomed", "--realm", "r1", "--apps", "tempo", "--demo-rows", "4"])
        try #require(created.status == 0, "\(created.text)")
        let port = try primary(of: "south").port
        let superuser = try topology.connect(port: port)
        let doomed = TenantID(validating: "doomed")!
        try TenantFence.freeze(doomed, reason: "test", on: superuser)
        let neighbours = try superuser.query("SELECT count(*) FROM jira.issues WHERE tenant_id <> 'doomed'").scalar
        let passfile = TenantCredentials(layout: try topology.layout).passfile(of: doomed)

        #expect(try topology.residency(["tenant", "delete", "doomed"]).status == 64, "--yes is required")
        let killed = try topology.residency(["tenant", "delete", "doomed", "--yes"], crashAt: "tenant.after-rows")
        #expect(killed.status == 137)
        #expect(try topology.control().tenants().contains { $0.id == doomed }, "the catalogue entry goes last")
        let deleted = try topology.residency(["tenant", "delete", "doomed", "--yes", "--json"])
        #expect(deleted.status == 0, "\(deleted.text)")
        #expect(deleted.text.contains("\"deleted\" : \"doomed\""))

        #expect(try !topology.control().tenants().contains { $0.id == doomed })
        for table in ["jira.issues", "jira.comments", "confluence.pages", "app_tempo.records"] {
            #expect(try superuser.query("SELECT count(*) FROM \(table) WHERE tenant_id = 'doomed'").scalar == "0", "\(table)")
        }
        #expect(try superuser.query("SELECT count(*) FROM residency.frozen_tenants WHERE tenant_id = 'doomed'").scalar == "0")
        #expect(try superuser.query("SELECT count(*) FROM pg_roles WHERE rolname = 'tenant-doomed'").scalar == "0")
        #expect(try superuser.query("SELECT count(*) FROM residency.tenant_roles WHERE tenant_id = 'doomed'").scalar == "0")
        #expect(try superuser.query("SELECT count(*) FROM jira.issues WHERE tenant_id <> 'doomed'").scalar == neighbours)
        #expect(!FileManager.default.fileExists(atPath: passfile))
        #expect(try topology.residency(["conninfo", "--tenant", "doomed"]).status == 65)
        #expect(try topology.residency(["tenant", "delete", "doomed", "--yes"]).status == 65)
    }

    @Test func upRefusesAChangedTopologyAndListsTheDifferences() throws {
        try topology.writeTopology(extraApp: "newapp")
        defer { try? topology.writeTopology() }
        let pids = try topology.serverPIDs()
        let refused = try topology.residency(["up", "--no-coordinator"])
        #expect(refused.status == 65)
        #expect(refused.text.contains("added   app newapp: residency-eligible"), "\(refused.text)")
        #expect(try topology.serverPIDs() == pids)
    }
}

import Synchronization
