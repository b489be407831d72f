import Foundation
import Synchronization
import ResidencyCore
import ResidencyPostgres
import ResidencyRuntime
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A hostile tenant against real servers: `globex` shares shard `north-1` with `acme` and
/// tries every way it has to reach acme's rows, the catalogue or another login. Each
/// attempt must fail with an error, or show globex's own rows only.
@Suite(.serialized) struct HostileTenantTests {
    let topology: TestTopology
    let acme = TenantID(validating: "acme")!
    let globex = TenantID(validating: "globex")!
    let tables = ["jira.issues", "jira.comments", "confluence.spaces", "confluence.pages", "app_tempo.records"]

    init() throws { topology = try SharedTopology.get() }

    var north: Int {
        get throws {
            guard let port = try topology.nodes().first(where: { $0.role == .primary && $0.node.shard == "north-1" })?.port else {
                throw TestError("no primary of north-1")
            }
            return port
        }
    }

    var credentials: TenantCredentials { get throws { TenantCredentials(layout: try topology.layout) } }

    func session(_ tenant: TenantID) throws -> Connection { try credentials.connect(tenant, port: try north) }

    /// The tenant ids `connection` sees in every product and app table.
    func visibleTenants(_ connection: Connection) throws -> Set<String> {
        var seen: Set<String> = []
        for table in tables {
            for row in try connection.query("SELECT DISTINCT tenant_id FROM \(table)").rows { seen.insert(row[0] ?? "") }
        }
        return seen
    }

    /// Runs `sql` expecting PostgreSQL to refuse it; returns the SQLSTATE.
    @discardableResult
    func refused(_ sql: String, on connection: Connection, sourceLocation: SourceLocation = #_sourceLocation) -> String? {
        do {
            let rows = try connection.query(sql).rows
            Issue.record("not refused: \(sql) -> \(rows.prefix(3))", sourceLocation: sourceLocation)
            return nil
        } catch {
            #expect(!error.message.isEmpty, sourceLocation: sourceLocation)
            return error.sqlState
        }
    }

    @Test func settingResettingOrSetConfigOfTheOldTenantContextShowsOnlyTheSessionsOwnRows() throws {
        let hostile = try session(globex)
        #expect(try visibleTenants(hostile) == ["globex"])
        for statement in [
            "SET residency.tenant = 'acme'", "SELECT set_config('residency.tenant', 'acme', false)", "RESET residency.tenant",
            "RESET ALL", "SET SESSION residency.tenant TO 'acme'", "SELECT set_config('residency.tenant', 'acme', true)",
        ] {
            _ = try? hostile.query(statement)
            #expect(try visibleTenants(hostile) == ["globex"], "after \(statement)")
            #expect(try hostile.query("SELECT count(*) FROM jira.issues WHERE tenant_id = 'acme'").scalar == "0", "after \(statement)")
        }
    }

    @Test func setRoleAndSessionAuthorizationToAnotherTenantOrASuperuserAreRefused() throws {
        let hostile = try session(globex)
        for statement in [
            "SET ROLE \"tenant-acme\"", "SET SESSION AUTHORIZATION \"tenant-acme\"", "SET ROLE \(LocalNodeManager.superuser)",
            "SET SESSION AUTHORIZATION \(LocalNodeManager.superuser)", "SET ROLE postgres",
        ] {
            do {
                try hostile.execute(statement)
                Issue.record("not refused: \(statement)")
            } catch {
                #expect(["42501", "22023"].contains(error.sqlState ?? ""), "\(statement): \(error)")
            }
        }
        // Its own group role is allowed, and changes nothing: the key is the login role.
        try hostile.execute("SET ROLE \(TenantSchema.tenantsRole)")
        #expect(try visibleTenants(hostile) == ["globex"])
        #expect(try hostile.query("SELECT session_user, current_user").rows == [["tenant-globex", TenantSchema.tenantsRole]])
        // Its own password does not open another tenant's role.
        var forged = try credentials.settings(acme, port: try north)
        forged.passfile = try credentials.passfile(of: globex)
        #expect(throws: PostgresError.self) { try Connection(forged) }
    }

    @Test func noTableViewFunctionOrCopyShowsAnotherTenantsRows() throws {
        let hostile = try session(globex)
        for table in tables {
            #expect(try hostile.query("SELECT count(*) FROM \(table) WHERE tenant_id = 'acme'").scalar == "0", "\(table)")
            #expect(try hostile.query("SELECT count(*) FROM \(table) WHERE tenant_id <> 'globex'").scalar == "0", "\(table)")
            // Writes into another tenant's rows: refused on insert, no row touched by update or delete.
            #expect(try hostile.query("UPDATE \(table) SET tenant_id = tenant_id WHERE tenant_id = 'acme' RETURNING 1").rows.isEmpty)
            #expect(try hostile.query("DELETE FROM \(table) WHERE tenant_id = 'acme' RETURNING 1").rows.isEmpty)
        }
        #expect(refused("INSERT INTO jira.issues (tenant_id, key, summary) VALUES ('acme', 'G-1', 'forged')", on: hostile) == "42501")
        #expect(refused("UPDATE jira.issues SET tenant_id = 'acme' WHERE tenant_id = 'globex'", on: hostile) == "42501")
        // Nothing of its own can be created to run with other rights: no schema takes objects,
        // temporary objects are refused.
        refused("CREATE TEMP VIEW peek AS SELECT * FROM jira.issues", on: hostile)
        refused("CREATE VIEW public.peek AS SELECT * FROM jira.issues", on: hostile)
        refused("CREATE VIEW jira.peek AS SELECT * FROM jira.issues", on: hostile)
        refused("CREATE FUNCTION public.peek() RETURNS bigint LANGUAGE sql SECURITY DEFINER AS 'SELECT count(*) FROM jira.issues'", on: hostile)
        refused("CREATE TABLE jira.stolen AS SELECT * FROM jira.issues", on: hostile)
        refused("ALTER TABLE jira.issues DISABLE ROW LEVEL SECURITY", on: hostile)
        refused("DROP POLICY tenant_context ON jira.issues", on: hostile)
        // COPY to a server file is refused; COPY to the client shows its own rows only.
        #expect(refused("COPY jira.issues TO '/tmp/residency-stolen.csv'", on: hostile) == "42501")
        let sink = try topology.connect(port: try north)
        try sink.execute("CREATE TEMP TABLE copied (LIKE jira.issues)")
        let copied = try hostile.copy("COPY jira.issues TO STDOUT", into: sink, "COPY copied FROM STDIN")
        #expect(copied > 0)
        #expect(try sink.query("SELECT array_agg(DISTINCT tenant_id) FROM copied").scalar == "{globex}")
    }

    @Test func catalogueTricksFilesExtensionsLargeObjectsAndStatisticsRevealNothing() throws {
        let hostile = try session(globex)
        #expect(refused("SELECT pg_read_file('postgresql.conf')", on: hostile) == "42501")
        #expect(refused("SELECT pg_ls_dir('.')", on: hostile) == "42501")
        #expect(refused("SELECT lo_import('/etc/passwd')", on: hostile) == "42501")
        refused("CREATE EXTENSION dblink", on: hostile)
        refused("SELECT dblink_connect('dbname=residency')", on: hostile)
        // acme's large object: globex cannot read it.
        let owner = try session(acme)
        let oid = try owner.query("SELECT lo_from_bytea(0, 'acme secret')").scalar ?? ""
        defer { _ = try? owner.query("SELECT lo_unlink($1::oid)", [oid]) }
        #expect(refused("SELECT lo_get(\(oid))", on: hostile) == "42501")
        // Column statistics of row-level-secured tables are hidden from tenants.
        try topology.connect(port: try north).execute("ANALYZE jira.issues")
        #expect(try hostile.query("SELECT count(*) FROM pg_stats WHERE schemaname = 'jira'").scalar == "0")
        // Another tenant's query text in pg_stat_activity.
        _ = try owner.query("SELECT 'acme-private-marker'")
        #expect(try hostile.query("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%acme-private-marker%' AND pid <> pg_backend_pid()").scalar == "0")
        // The tenant mapping, the frozen list and the control store.
        #expect(refused("SELECT * FROM residency.tenant_roles", on: hostile) == "42501")
        #expect(refused("SELECT * FROM residency.frozen_tenants", on: hostile) == "42501")
        #expect(try hostile.query("SELECT residency.current_tenant()").scalar == "globex")
        let control = try credentials.settings(globex, port: try topology.layout.controlPort)
        #expect(throws: PostgresError.self) { try Connection(control) }
        var other = try credentials.settings(globex, port: try north)
        other.database = "postgres"
        #expect(throws: PostgresError.self) { try Connection(other) }
    }

    @Test func eachPassfileHoldsOneTenantsPasswordAndNoOtherOSUserCanOpenIt() throws {
        let credentials = try credentials
        let conninfo = try topology.residency(["conninfo", "--tenant", "globex"])
        #expect(conninfo.status == 0)
        let path = credentials.passfile(of: globex)
        #expect(conninfo.text.contains("passfile='\(path)'"))
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.split(separator: "\n").count == 1)
        #expect(text.hasPrefix("127.0.0.1:*:residency:tenant-globex:"))
        let superuser = try Secrets.read(from: try topology.layout.passfile).superuserPassword
        #expect(!text.contains(superuser))
        #expect(!text.contains(try credentials.password(of: acme)))
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let directoryMode = try FileManager.default.attributesOfItem(atPath: credentials.directory)[.posixPermissions] as? Int
        #expect(directoryMode == 0o700)
        if geteuid() == 0 {
            // Neither the servers' OS user nor anyone else.
            for user in ["postgres", "nobody"] {
                let read = try CommandRunner.launch(["/usr/sbin/runuser", "-u", user, "--", "/bin/cat", path])
                #expect(read.status != 0, "\(user) read \(path)")
                #expect(!read.text.contains(try credentials.password(of: globex)))
            }
        } else {
            #expect(getuid() != 0, "as another user than root this checks the mode only")
        }
    }

    @Test func rotatingATenantsPasswordFailsNoWriteOfAnotherTenantAndRetiresTheOldPassword() throws {
        // Tenants of their own: other suites freeze the shared topology's tenants meanwhile.
        for name in ["rotor", "steady"] {
            let created = try topology.residency(["tenant", "create", name, "--realm", "r1", "--demo-rows", "1"])
            try #require(created.status == 0, "\(created.text)")
        }
        let rotor = TenantID(validating: "rotor")!
        let steady = TenantID(validating: "steady")!
        let south = try topology.nodes().first { $0.role == .primary && $0.node.shard == "south-1" }!.port
        let credentials = try credentials
        let oldPassword = try credentials.password(of: rotor)
        let openSession = try credentials.connect(rotor, port: south)

        // steady writes on the same shard all through the rotation.
        let failures = Atomic<Int>(0)
        let writes = Atomic<Int>(0)
        let stop = Atomic<Bool>(false)
        let writer = Thread {
            guard let connection = try? credentials.connect(steady, port: south) else { failures.add(1, ordering: .relaxed); return }
            while !stop.load(ordering: .relaxed) {
                do {
                    try connection.query("INSERT INTO jira.issues (tenant_id, key, summary) VALUES ('steady', 'R-1', 'during rotation')")
                    writes.add(1, ordering: .relaxed)
                } catch {
                    failures.add(1, ordering: .relaxed)
                }
            }
        }
        writer.start()
        Thread.sleep(forTimeInterval: 0.2)
        for _ in 0..<3 {
            let rotated = try topology.residency(["tenant", "credentials", "rotor", "--rotate", "--json"])
            #expect(rotated.status == 0, "\(rotated.text)")
            #expect(rotated.text.contains("\"rotated\" : true"))
        }
        Thread.sleep(forTimeInterval: 0.2)
        stop.store(true, ordering: .relaxed)
        while !writer.isFinished { usleep(10_000) }
        #expect(failures.load(ordering: .relaxed) == 0)
        #expect(writes.load(ordering: .relaxed) > 0)

        #expect(try credentials.password(of: rotor) != oldPassword)
        #expect(try openSession.query("SELECT count(*) FROM jira.issues").scalar == "1", "an open session stays")
        #expect(try credentials.connect(rotor, port: south).query("SELECT residency.current_tenant()").scalar == "rotor")
        // The old password opens nothing any more.
        let stale = topology.root + "/stale.pgpass"
        try PrivateFileForTests.write("127.0.0.1:*:residency:tenant-rotor:\(oldPassword)\n", to: stale)
        var settings = credentials.settings(rotor, port: south)
        settings.passfile = stale
        #expect(throws: PostgresError.self) { try Connection(settings) }

        #expect(try topology.residency(["tenant", "credentials", "nobody-here", "--rotate"]).status == 65)
        #expect(try topology.residency(["tenant", "credentials", "Bad_Name"]).status == 65)
    }

    @Test func noServerLogHoldsAPassword() throws {
        let layout = try topology.layout
        let credentials = TenantCredentials(layout: layout)
        let secrets = try Secrets.read(from: layout.passfile)
        var passwords = [secrets.superuserPassword] + secrets.servicePasswords.values
        for tenant in try topology.control().tenants() { passwords.append(try credentials.password(of: tenant.id)) }
        let servers = try FileManager.default.contentsOfDirectory(atPath: layout.dataRoot)
        var logs = 0
        for server in servers {
            let path = "\(layout.dataRoot)/\(server)/server.log"
            guard let log = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
            logs += 1
            for password in passwords { #expect(!log.contains(password), "a password in \(path)") }
        }
        #expect(logs == 7)
        #expect(passwords.count == 5 + (try topology.control().tenants().count))
    }
}

/// A passfile written for a test, mode 0600 (libpq ignores looser ones).
enum PrivateFileForTests {
    static func write(_ text: String, to path: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
    }
}
