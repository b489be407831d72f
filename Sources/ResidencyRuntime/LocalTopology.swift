import Foundation
import Logging
import ResidencyCore
import ResidencyPostgres
import ResidencyVault

/// Local mode: creates, starts and stops a topology's servers on this machine.
///
/// `up` is idempotent and resumable. Every server is created in steps whose completion the
/// control database records (`nodes.created`); a server found half-created (a crash in
/// `initdb` or `pg_basebackup`) is wiped and created again. A created server that is
/// stopped is started in the role the control database records.
public struct LocalTopology {
    public let state: StateDirectory
    public let logger: Logger
    /// Called with a line of progress for a person watching a terminal.
    public let progress: (String) -> Void

    public init(state: StateDirectory, logger: Logger, progress: @escaping (String) -> Void = { _ in }) {
        self.state = state
        self.logger = logger
        self.progress = progress
    }

    /// The node manager of a created topology.
    public static func nodeManager(_ layout: StateDirectory.Layout) throws(RuntimeError) -> LocalNodeManager {
        do {
            return LocalNodeManager(binaries: try ServerBinaries.locate(), user: try ServerUser.current(),
                                    dataRoot: layout.dataRoot, passfile: layout.passfile)
        } catch {
            throw RuntimeError(.unavailable, error.description)
        }
    }

    /// The server folder name of the control server.
    public static let controlServer = "control"

    /// What `up` did.
    public struct UpReport: Sendable {
        public var created: [String] = []
        public var started: [String] = []
        public var reconfigured: [String] = []
        public var tenantsCreated: [TenantID] = []
        /// The background coordinator's pid, when one runs.
        public var coordinatorPID: Int32?
        public var coordinatorStarted = false
        public var changedNothing: Bool {
            created.isEmpty && started.isEmpty && reconfigured.isEmpty && tenantsCreated.isEmpty && !coordinatorStarted
        }
    }

    // MARK: up

    /// `executable`: the `residency` executable the servers' `archive_command` runs (a copy
    /// of it); this process's own when `nil` (a drill run inside a test names it).
    public func up(_ topology: Topology, topologyDirectory: String, demo: Bool, startCoordinator: Bool = true, executable: String? = nil) throws(RuntimeError) -> UpReport {
        let lock = try state.lock()
        defer { withExtendedLifetime(lock) {} }
        let user: ServerUser
        let binaries: ServerBinaries
        do {
            user = try ServerUser.current()
            binaries = try ServerBinaries.locate()
        } catch {
            throw RuntimeError(.unavailable, error.description)
        }
        let layout: StateDirectory.Layout
        if let existing = try state.layout() {
            layout = existing
        } else {
            // Nothing is created while another process holds a port the topology needs.
            try Self.requirePortsFree([(Self.controlServer, topology.controlPort)]
                + topology.regions.flatMap(\.nodePorts).map { ($0.node.description, $0.port) })
            layout = try state.createLayout(controlPort: topology.controlPort, topologyDirectory: topologyDirectory, user: user)
        }
        let manager = LocalNodeManager(binaries: binaries, user: user, dataRoot: layout.dataRoot, passfile: layout.passfile)
        let secrets: Secrets
        if FileManager.default.fileExists(atPath: layout.passfile) {
            secrets = try Secrets.read(from: layout.passfile)
        } else {
            secrets = Secrets.generate()
            try secrets.write(to: layout.passfile, owner: user)
        }
        var report = UpReport()
        let vault = try VaultSetup.ensure(layout: layout, topology: topology, user: user, executable: executable)

        try ensureControlServer(manager: manager, layout: layout, secrets: secrets, report: &report)
        let control = try ControlStore(layout: layout)
        try control.migrate()
        if let stored = try control.storedTopology() {
            let differences = TopologyDifference.between(stored: stored.facts, configured: topology.facts)
            guard differences.isEmpty else { throw RuntimeError.topologyChanged(differences, state: state.path) }
            if try control.refreshTopologyDocument(topology) { progress("recorded the changed settings of \(topologyDirectory) (backups, service levels)") }
        } else {
            try control.recordNewTopology(topology)
        }

        let held = Set(try control.heldZones().keys)
        let nodes = try control.nodes().filter { !held.contains($0.node.zone) }
        try Self.requirePortsFree(nodes.filter { manager.runningPID($0.node.fileName) == nil }.map { ($0.node.description, $0.port) })
        let data = DataNodes(layout: layout)
        let open = Set(try control.openOperations().map(\.shard))
        for shard in try control.shards() {
            if open.contains(shard.shard) {
                progress("shard \(shard.shard): a failover or switchover is in progress; the coordinator finishes it")
                continue
            }
            try ensureShard(shard, nodes: nodes.filter { $0.node.shard == shard.shard }, topology: topology,
                            manager: manager, control: control, data: data, secrets: secrets,
                            archive: VaultSetup.archiveSettings(vault, dataRoot: layout.dataRoot, shard: shard.shard), report: &report)
        }
        if demo {
            let catalog = TenantCatalog(control: control, data: data, topology: topology)
            let known = Set(try control.tenants().map(\.id))
            for request in TenantCatalog.demoRequests(topology) {
                guard let tenant = TenantID(validating: request.name), !known.contains(tenant) else { continue }
                progress("creating demo tenant \(tenant) (realm \(request.realm))")
                _ = try catalog.create(request)
                report.tenantsCreated.append(tenant)
            }
        }
        if startCoordinator {
            let (pid, started) = try CoordinatorProcess(state: state).start()
            report.coordinatorPID = pid
            report.coordinatorStarted = started
            if started { progress("started the coordinator (pid \(pid), log \(CoordinatorProcess(state: state).logFile))") }
        }
        return report
    }

    private func ensureControlServer(
        manager: LocalNodeManager, layout: StateDirectory.Layout, secrets: Secrets, report: inout UpReport
    ) throws(RuntimeError) {
        let server = Self.controlServer
        let marker = "\(layout.dataRoot)/\(server)/created"
        if manager.runningPID(server) == nil {
            try Self.requirePortsFree([(server, layout.controlPort)])
        }
        try step("control server") { () throws(PostgresError) in
            if !FileManager.default.fileExists(atPath: marker) {
                progress("creating the control server (port \(layout.controlPort))")
                try manager.stop(server)
                try manager.remove(server)
                try manager.initializePrimary(server, superuserPassword: secrets.superuserPassword, extraSettings: "")
                CrashPoint.reach("up.after-control-initdb")
                try manager.start(server, port: layout.controlPort, clusterName: server)
                let admin = try Connection(ControlStore.settings(layout, database: "postgres", user: LocalNodeManager.superuser))
                let control = ServiceRole.control
                try control.ensure(verifier: try admin.scramVerifier(password: secrets.password(of: control), role: control.name), on: admin)
                try admin.execute("CREATE DATABASE \(ControlStore.database) OWNER \(control.name)")
                _ = FileManager.default.createFile(atPath: marker, contents: Data())
                report.created.append(server)
            } else if try manager.start(server, port: layout.controlPort, clusterName: server) {
                progress("started the control server (port \(layout.controlPort))")
                report.started.append(server)
            }
        }
    }

    /// Shards created before tenants had roles of their own shared one application role
    /// whose tenant context any session could change: refused, never run that way.
    private func requirePerTenantRoles(_ primary: ControlStore.NodeRecord, data: DataNodes) throws(RuntimeError) {
        let connection = try data.connect(port: primary.port)
        let found = try? connection.query("""
            SELECT to_regclass('residency.tenant_roles') IS NOT NULL AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)
            """, [ServiceRole.coordinator.name]).scalar
        guard found == "f" else { return }
        throw RuntimeError(.invalidInput, """
            shard \(primary.node.shard) was created by an older residency whose tenants share one role and set their own \
            tenant context (any tenant could read any other), or whose coordinator used the superuser; it cannot be upgraded in place: \
            move the data out, then residency down --purge && residency up
            """)
    }

    private func ensureShard(
        _ shard: ControlStore.ShardRecord, nodes: [ControlStore.NodeRecord], topology: Topology,
        manager: LocalNodeManager, control: ControlStore, data: DataNodes, secrets: Secrets, archive: String, report: inout UpReport
    ) throws(RuntimeError) {
        guard let primary = nodes.first(where: { $0.node == shard.primary }) else {
            progress("shard \(shard.shard): its primary \(shard.primary) is in a zone held down; left as it is")
            return
        }
        let primarySettings = data.settings(port: primary.port)
        // What standbys stream from: never the superuser.
        let replicationSettings = data.settings(port: primary.port, role: .replication)

        if !primary.created {
            // A new shard: whatever a crashed earlier run left of it goes.
            for member in nodes {
                try step("clear \(member.node)") { () throws(PostgresError) in
                    try manager.stop(member.node.fileName)
                    try manager.remove(member.node.fileName)
                }
                try control.setCreated(member.node, false)
            }
            progress("creating primary \(primary.node) (port \(primary.port)): initdb --data-checksums")
            try step("create primary \(primary.node)") { () throws(PostgresError) in
                try manager.initializePrimary(primary.node.fileName, superuserPassword: secrets.superuserPassword, extraSettings: archive)
                CrashPoint.reach("up.after-primary-initdb")
                try manager.start(primary.node.fileName, port: primary.port, clusterName: primary.node.description)
                let admin = try Connection(data.settings(port: primary.port, database: "postgres"))
                try admin.execute("CREATE DATABASE \(TenantSchema.database)")
                let tenantDatabase = try Connection(primarySettings)
                try tenantDatabase.execute(TenantSchema.script(apps: topology.apps))
                for role in [ServiceRole.replication, .coordinator, .mover] {
                    try role.ensure(verifier: try tenantDatabase.scramVerifier(password: secrets.password(of: role), role: role.name), on: tenantDatabase)
                }
                CrashPoint.reach("up.after-schema")
            }
            try control.setCreated(primary.node, true)
            try control.appendEvent(kind: "node.created", shard: shard.shard, epoch: shard.epoch, detail: "primary \(primary.node)")
            report.created.append(primary.node.description)
        } else {
            try startIfStopped(primary, manager: manager, report: &report)
            try requirePerTenantRoles(primary, data: data)
        }

        let standbys = nodes.filter { $0.node != primary.node }
        for standby in standbys {
            let name = standby.node.fileName
            if standby.created && manager.exists(name) {
                if standby.needsRewind && manager.runningPID(name) == nil {
                    // A former primary is never just restarted: a commit whose wait for a
                    // standby was cancelled is still committed locally.
                    progress("rewinding former primary \(standby.node) onto \(primary.node)")
                    try step("rewind \(standby.node)") { () throws(PostgresError) in
                        try ReplicationAdmin.ensureSlot(standby.node.postgresName, on: try Connection(primarySettings))
                        try manager.rewind(name, from: primarySettings, upstream: replicationSettings, slot: standby.node.postgresName)
                    }
                    try control.clearNeedsRewind(standby.node)
                }
                try startIfStopped(standby, manager: manager, report: &report)
                continue
            }
            if standby.created {
                logger.warning("standby data directory missing; rebuilding it", metadata: ["node": "\(standby.node)"])
            }
            progress("creating standby \(standby.node) (port \(standby.port)): pg_basebackup from \(primary.node)")
            try step("create standby \(standby.node)") { () throws(PostgresError) in
                try manager.stop(name)
                try manager.remove(name)
                let admin = try Connection(primarySettings)
                try ReplicationAdmin.ensureSlot(standby.node.postgresName, on: admin)
                try manager.createStandby(name, from: replicationSettings, slot: standby.node.postgresName)
                CrashPoint.reach("up.after-basebackup")
                try manager.start(name, port: standby.port, clusterName: standby.node.description)
            }
            try control.setCreated(standby.node, true)
            try control.appendEvent(kind: "node.created", shard: shard.shard, epoch: shard.epoch, detail: "standby \(standby.node) of \(primary.node)")
            report.created.append(standby.node.description)
        }

        // A commit is acknowledged only once a second zone has it. The set is the one the
        // control store records (the coordinator narrows it after a failover).
        let recorded = shard.synchronousStandbys.isEmpty ? standbys.map(\.node) : shard.synchronousStandbys
        let desired = ReplicationAdmin.synchronousStandbyNames(recorded)
        try step("synchronous standbys of \(primary.node)") { () throws(PostgresError) in
            let admin = try Connection(primarySettings)
            let current = try admin.query("SHOW synchronous_standby_names").scalar ?? ""
            if current != desired {
                CrashPoint.reach("up.before-synchronous-standbys")
                try ReplicationAdmin.setSynchronousStandbyNames(desired, on: admin)
                report.reconfigured.append("\(primary.node): synchronous_standby_names = \(desired)")
            }
            try waitForStreaming(standbys.filter { !$0.needsRewind || manager.runningPID($0.node.fileName) != nil }.map(\.node), on: admin)
        }
    }

    /// Refuses when another process listens on the port of a server of ours that is not running.
    static func requirePortsFree(_ servers: [(server: String, port: Int)]) throws(RuntimeError) {
        let taken = servers.filter { !LocalNodeManager.isPortFree($0.port) }
        guard taken.isEmpty else {
            throw RuntimeError(.unavailable, "another process listens on \(taken.map { "port \($0.port) (needed by \($0.server))" }.joined(separator: ", ")); nothing was started. Is another topology running on these ports? Stop it (residency down --state ITS_DIR) or change the ports in regions/.")
        }
    }


    private func startIfStopped(_ record: ControlStore.NodeRecord, manager: LocalNodeManager, report: inout UpReport) throws(RuntimeError) {
        try step("start \(record.node)") { () throws(PostgresError) in
            if try manager.start(record.node.fileName, port: record.port, clusterName: record.node.description) {
                progress("started \(record.node) (port \(record.port))")
                report.started.append(record.node.description)
            }
        }
    }

    private func waitForStreaming(_ standbys: [NodeID], on primary: Connection, timeout: Duration = .seconds(60)) throws(PostgresError) {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var missing = Set(standbys.map(\.postgresName))
        while !missing.isEmpty {
            let rows = try primary.query("SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'").rows
            missing.subtract(rows.compactMap { $0[0] })
            if missing.isEmpty { break }
            if clock.now >= deadline {
                throw PostgresError(kind: .command, message: "standby(s) \(missing.sorted().joined(separator: ", ")) not streaming after \(timeout); see their server.log", context: primary.address)
            }
            usleep(50_000)
        }
    }

    private func step(_ what: String, _ body: () throws(PostgresError) -> Void) throws(RuntimeError) {
        do {
            try body()
        } catch {
            throw RuntimeError(.unavailable, "\(what): \(error)")
        }
    }

    // MARK: down

    /// What `down` did: the servers it stopped, with their postmaster pids.
    public struct DownReport: Sendable {
        public var stopped: [(server: String, pid: Int32)] = []
        public var purged: String?
        /// The vault a purge kept because objects in it are still retained: where, how many, until when (the latest).
        public var keptVault: (path: String, objects: Int, until: Int64)?
    }

    public func down(purge: Bool) throws(RuntimeError) -> DownReport {
        var report = DownReport()
        guard let layout = try state.layout() else {
            if purge, FileManager.default.fileExists(atPath: state.path) {
                try state.purge(nil)
                report.purged = state.path
            }
            return report
        }
        do {
            let lock = try state.lock()
            defer { withExtendedLifetime(lock) {} }
            if let pid = CoordinatorProcess(state: state).stop() {
                progress("stopped the coordinator (pid \(pid))")
                report.stopped.append(("coordinator", pid))
            }
            let manager = try Self.nodeManager(layout)
            // Primaries first, so their standbys receive the shutdown checkpoint; the control server last.
            var servers = ((try? FileManager.default.contentsOfDirectory(atPath: layout.dataRoot)) ?? [])
                .filter { $0 != Self.controlServer && manager.exists($0) }.sorted()
            if let primaries = try? ControlStore(layout: layout, connectTimeoutSeconds: 2).shards().map(\.primary.fileName) {
                servers = servers.filter { primaries.contains($0) } + servers.filter { !primaries.contains($0) }
            }
            for server in servers + [Self.controlServer] {
                guard let pid = manager.runningPID(server) else { continue }
                progress("stopping \(server) (pid \(pid))")
                try manager.stop(server)
                report.stopped.append((server, pid))
            }
            // Servers `backup restore` left running beside the shards.
            let restores = ShardRestore.manager(beside: manager)
            for server in ((try? FileManager.default.contentsOfDirectory(atPath: restores.dataRoot)) ?? []).sorted() {
                guard let pid = restores.runningPID(server) else { continue }
                progress("stopping restored server \(server) (pid \(pid))")
                try restores.stop(server)
                report.stopped.append(("restores/" + server, pid))
            }
        } catch let error as RuntimeError {
            throw error
        } catch {
            throw RuntimeError(.unavailable, "\(error)")
        }
        if purge {
            // WORM: nothing deletes an object before its retain-until, not even a purge of the topology.
            let retained = VaultSetup.retainedObjects(layout)
            let keep = retained.count > 0 ? [layout.dataRoot + "/vault", layout.dataRoot + "/keys"] : []
            try state.purge(layout, keep: keep)
            report.purged = state.path
            if retained.count > 0 {
                report.keptVault = (layout.dataRoot + "/vault", retained.count, retained.until)
                progress("kept the vault: \(retained.count) object(s) retained until \(Date(timeIntervalSince1970: Double(retained.until)).formatted(.iso8601)) in \(layout.dataRoot)/vault (keys in \(layout.dataRoot)/keys)")
            }
        }
        return report
    }
}
