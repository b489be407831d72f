import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs PostgreSQL servers on this machine under `dataRoot`, one folder per server:
/// `<dataRoot>/<server>/pgdata` and `<dataRoot>/<server>/server.log`.
///
/// Per-server identity (port, `cluster_name`) goes on the server's command line, because
/// `pg_basebackup` and `pg_rewind` copy the configuration files of their source. Replication
/// settings the coordinator changes at run time (`primary_conninfo`,
/// `synchronous_standby_names`) live in `postgresql.auto.conf`, where `ALTER SYSTEM` can
/// change them (a command-line setting would beat `ALTER SYSTEM`).
public struct LocalNodeManager: NodeManager {
    public let binaries: ServerBinaries
    public let user: ServerUser
    public let dataRoot: String
    /// libpq password file shared by the servers (for replication) and the tool.
    public let passfile: String
    /// The superuser `initdb` creates: `up`, moves and tenant roles use it; the coordinator,
    /// replication and the control store have roles of their own (`ServiceRole`).
    public static let superuser = "residency"

    public init(binaries: ServerBinaries, user: ServerUser, dataRoot: String, passfile: String) {
        self.binaries = binaries
        self.user = user
        self.dataRoot = dataRoot
        self.passfile = passfile
    }

    public func dataDirectory(_ server: String) -> String { "\(dataRoot)/\(server)/pgdata" }
    public func logFile(_ server: String) -> String { "\(dataRoot)/\(server)/server.log" }

    /// Settings shared by every server. Durability settings (`fsync`, `full_page_writes`,
    /// `synchronous_commit`) keep PostgreSQL's safe defaults: a drill on a weakened node
    /// would pass where real power loss fails.
    static let sharedSettings = """

        # --- residency: shared by every server of the topology (per-server identity is on the command line) ---
        listen_addresses = '127.0.0.1'
        unix_socket_directories = ''
        password_encryption = 'scram-sha-256'
        max_connections = 60
        shared_buffers = '256MB'
        wal_level = logical
        max_wal_senders = 16
        max_replication_slots = 16
        max_logical_replication_workers = 8
        wal_keep_size = '256MB'
        max_slot_wal_keep_size = '4GB'
        hot_standby = on
        hot_standby_feedback = on
        wal_receiver_timeout = '3s'
        wal_sender_timeout = '3s'
        wal_receiver_status_interval = '1s'
        wal_retrieve_retry_interval = '200ms'
        synchronous_commit = on
        log_line_prefix = '%m [%p] %q%a '
        log_min_messages = warning
        log_connections = off

        """

    /// `extraSettings` are appended to `postgresql.conf` after the shared ones (a shard's
    /// WAL archive); `pg_basebackup` copies them to its standbys.
    public func initializePrimary(_ server: String, superuserPassword: String, extraSettings: String = "") throws(PostgresError) {
        let folder = try makeServerFolder(server)
        let pwfile = folder + "/initdb.pw"
        try writeOwned(pwfile, superuserPassword + "\n")
        defer { unlink(pwfile) }
        try CommandRunner.run([
            binaries.path("initdb"), "--pgdata", dataDirectory(server), "--data-checksums",
            "--username", Self.superuser, "--pwfile", pwfile, "--auth-host", "scram-sha-256", "--auth-local", "peer",
            "--encoding", "UTF8", "--locale", "C.UTF-8", "--no-instructions",
        ], as: user)
        try append(dataDirectory(server) + "/postgresql.conf", Self.sharedSettings + extraSettings)
    }

    public func createStandby(_ server: String, from primary: ConnectionSettings, slot: String) throws(PostgresError) {
        _ = try makeServerFolder(server)
        try CommandRunner.run([
            binaries.path("pg_basebackup"), "--pgdata", dataDirectory(server), "--dbname", primary.connectionString,
            "--wal-method", "stream", "--slot", slot, "--checkpoint", "fast", "--no-password",
        ], as: user)
        try followPrimary(server, primary: primary, slot: slot)
    }

    /// Makes a stopped server a standby of `primary`: `primary_conninfo` and
    /// `primary_slot_name` in `postgresql.auto.conf`, no `synchronous_standby_names` of its
    /// own (a copied one would make a promoted standby wait for names it does not know), and
    /// `standby.signal`. The standby's `application_name` is its slot name, which is how the
    /// primary's `synchronous_standby_names` refers to it.
    public func followPrimary(_ server: String, primary: ConnectionSettings, slot: String) throws(PostgresError) {
        var upstream = primary
        upstream.applicationName = slot
        upstream.statementTimeoutMilliseconds = 0
        upstream.connectTimeoutSeconds = 2
        try setAutoConf(server, [
            "primary_conninfo": upstream.connectionString,
            "primary_slot_name": slot,
            "synchronous_standby_names": nil,
        ])
        try writeOwned(dataDirectory(server) + "/standby.signal", "")
    }

    /// Rewrites settings of a stopped server's `postgresql.auto.conf`; `nil` removes one.
    public func setAutoConf(_ server: String, _ settings: [String: String?]) throws(PostgresError) {
        let path = dataDirectory(server) + "/postgresql.auto.conf"
        let existing = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        var lines = existing.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { line in
            let name = line.split(separator: "=", maxSplits: 1).first?.trimmingCharacters(in: .whitespaces) ?? ""
            return settings[name] == nil
        }
        while lines.last?.isEmpty == true { lines.removeLast() }
        if lines.isEmpty { lines = ["# Do not edit this file manually!", "# It will be overwritten by the ALTER SYSTEM command."] }
        for name in settings.keys.sorted() {
            if let value = settings[name] ?? nil {
                lines.append(Self.settingLine(name, value))
            }
        }
        try writeOwned(path, lines.joined(separator: "\n") + "\n", mode: 0o600)
    }

    /// A configuration-file line `name = 'value'` (a quote in the value doubled).
    public static func settingLine(_ name: String, _ value: String) -> String {
        "\(name) = '\(value.replacing("'", with: "''"))'"
    }

    @discardableResult
    public func start(_ server: String, port: Int, clusterName: String) throws(PostgresError) -> Bool {
        if runningPID(server) != nil { return false }
        waitForReaping(server)
        do {
            try CommandRunner.run([
                binaries.path("pg_ctl"), "start", "--pgdata", dataDirectory(server), "--log", logFile(server),
                "--wait", "--timeout", "120", "-o", "-p \(port) -c cluster_name=\(clusterName)",
            ], as: user)
        } catch {
            let log = (try? String(contentsOfFile: logFile(server), encoding: .utf8)) ?? ""
            throw PostgresError(
                kind: .command,
                message: "server \(server) on port \(port) did not start; its log (\(logFile(server))) ends with:\n\(CommandRunner.tail(log))",
                context: "pg_ctl start")
        }
        return true
    }

    /// PostgreSQL refuses to start while the pid in `postmaster.pid` exists, and a killed
    /// postmaster exists for a while: dying, then a zombie until its parent reaps it. Waits
    /// (10 s at most) until it is gone, rather than deleting the lock file, which would also
    /// bypass PostgreSQL's check for orphaned backends. Only called once `runningPID` found
    /// no live server.
    private func waitForReaping(_ server: String) {
        guard let text = try? String(contentsOfFile: dataDirectory(server) + "/postmaster.pid", encoding: .utf8),
              let first = text.split(separator: "\n").first, let pid = Int32(first.trimmingCharacters(in: .whitespaces)), pid > 0
        else { return }
        for _ in 0..<500 {
            guard kill(pid, 0) == 0 else { return }
            usleep(20_000)
        }
    }

    @discardableResult
    public func stop(_ server: String) throws(PostgresError) -> Bool {
        guard let pid = runningPID(server) else { return false }
        // Fast shutdown, then immediate shutdown, then SIGKILL; always by the recorded pid.
        for (signal, seconds) in [(SIGINT, 60.0), (SIGQUIT, 10.0), (SIGKILL, 10.0)] {
            kill(pid, signal)
            if Self.waitForExit(pid, seconds: seconds) { return true }
        }
        throw PostgresError(kind: .command, message: "postmaster \(pid) of \(server) did not exit after SIGKILL", context: "stop")
    }

    /// Rewinds a stopped former primary onto `source`'s timeline (`pg_rewind`, which first
    /// finishes crash recovery of a server that was killed), then makes it follow `source`.
    ///
    /// A just-promoted source records its new timeline in its control file only at its
    /// next checkpoint; until then `pg_rewind` sees one timeline, says "no rewind required"
    /// and exits 0, and the old primary can never follow. So the source checkpoints first.
    /// `upstream` is what the rewound server then streams from (the same server as
    /// `source`, as the replication role).
    public func rewind(_ server: String, from source: ConnectionSettings, upstream: ConnectionSettings, slot: String) throws(PostgresError) {
        precondition(runningPID(server) == nil, "pg_rewind needs a stopped server")
        var settings = source
        settings.statementTimeoutMilliseconds = 0
        try Connection(settings).execute("CHECKPOINT")
        // pg_rewind first finishes crash recovery in single-user mode, which refuses
        // standby mode: a node interrupted half-way through an earlier rejoin has
        // standby.signal. `followPrimary` writes it again afterwards.
        for signal in ["standby.signal", "recovery.signal"] { unlink(dataDirectory(server) + "/" + signal) }
        try CommandRunner.run([
            binaries.path("pg_rewind"), "--target-pgdata", dataDirectory(server), "--source-server", settings.connectionString,
        ], as: user)
        try followPrimary(server, primary: upstream, slot: slot)
    }

    /// The postmaster and every process it started: what a power loss takes down at once.
    public func processes(_ server: String) -> [Int32] {
        guard let postmaster = runningPID(server) else { return [] }
        var pids = [postmaster]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry),
                  let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, Int32(fields[1]) == postmaster { pids.append(pid) }
        }
        return pids
    }

    /// Sends `signal` to every process of the server at once; returns their pids.
    @discardableResult
    public func signalAll(_ server: String, _ signal: Int32) -> [Int32] {
        signalAll(servers: [server], signal)[0]
    }

    /// Sends `signal` to every process of `servers` at once (a zone's power loss); returns
    /// the pids per server, in order.
    ///
    /// For SIGKILL and SIGSTOP the postmasters are stopped first and their children listed
    /// only once they are: a postmaster still running could fork a backend (a walsender,
    /// say) after the listing, which would outlive the "power loss" as an orphan, holding
    /// locks and answering on its connection.
    public func signalAll(servers: [String], _ signal: Int32) -> [[Int32]] {
        if signal == SIGKILL || signal == SIGSTOP {
            let postmasters = servers.compactMap(runningPID)
            for pid in postmasters { kill(pid, SIGSTOP) }
            let deadline = Date().addingTimeInterval(1)
            while postmasters.contains(where: { !Self.isStopped($0) && Self.isAlive($0) }) && Date() < deadline { usleep(1_000) }
        }
        let pids = servers.map(processes)
        for pid in pids.joined() { kill(pid, signal) }
        return pids
    }

    /// Whether `pid` is stopped (state `T` in /proc).
    static func isStopped(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("T")
    }

    public func runningPID(_ server: String) -> Int32? {
        Self.postmasterPID(dataDirectory: dataDirectory(server))
    }

    public func exists(_ server: String) -> Bool {
        FileManager.default.fileExists(atPath: dataDirectory(server) + "/PG_VERSION")
    }

    public func remove(_ server: String) throws(PostgresError) {
        precondition(runningPID(server) == nil, "remove needs a stopped server")
        do {
            if FileManager.default.fileExists(atPath: "\(dataRoot)/\(server)") {
                try FileManager.default.removeItem(atPath: "\(dataRoot)/\(server)")
            }
        } catch {
            throw PostgresError(kind: .command, message: "cannot remove \(dataRoot)/\(server): \(error.localizedDescription)", context: "remove")
        }
    }

    /// The pid in `postmaster.pid` when that process is alive and is a PostgreSQL server
    /// (not a recycled pid of something else).
    public static func postmasterPID(dataDirectory: String) -> Int32? {
        guard let text = try? String(contentsOfFile: dataDirectory + "/postmaster.pid", encoding: .utf8),
              let first = text.split(separator: "\n").first, let pid = Int32(first.trimmingCharacters(in: .whitespaces)), pid > 0,
              isAlive(pid)
        else { return nil }
        guard let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return pid }
        return String(decoding: cmdline, as: UTF8.self).contains("postgres") ? pid : nil
    }

    /// Whether nothing listens on 127.0.0.1:`port`, judged by binding it the way
    /// PostgreSQL does (`SO_REUSEADDR`, so a port in TIME_WAIT counts as free).
    public static func isPortFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    /// Whether `pid` runs. A zombie does not: an exited server whose new parent (a
    /// subreaper such as a test runner) has not reaped it yet.
    public static func isAlive(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        return !isZombie(pid)
    }

    /// Waits until `pid` has exited; true when it did within `seconds`.
    static func waitForExit(_ pid: Int32, seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if !isAlive(pid) { return true }
            usleep(20_000)
        }
        return !isAlive(pid)
    }

    private static func isZombie(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    }

    // MARK: files owned by the server user

    /// Creates `<dataRoot>/<server>` (mode 0700, the server user's).
    @discardableResult
    public func makeServerFolder(_ server: String) throws(PostgresError) -> String {
        let folder = "\(dataRoot)/\(server)"
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw PostgresError(kind: .command, message: "cannot create \(folder): \(error.localizedDescription)", context: "data folder")
        }
        try user.own(folder)
        return folder
    }

    /// Writes a file the server user owns (atomically, `mode`).
    public func writeOwned(_ path: String, _ text: String, mode: Int = 0o600) throws(PostgresError) {
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        } catch {
            throw PostgresError(kind: .command, message: "cannot write \(path): \(error.localizedDescription)", context: "write")
        }
        try user.own(path)
    }

    private func append(_ path: String, _ text: String) throws(PostgresError) {
        let existing = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        try writeOwned(path, existing + text)
    }
}
