import Foundation
import Synchronization
import ResidencyCore
import ResidencyPostgres
import ResidencyRuntime
#if canImport(Glibc)
import Glibc
#endif

/// A topology of real PostgreSQL servers that a test creates through the `residency`
/// executable, in a temporary folder, on ports nobody else uses. As root this exercises
/// the fallback data root (the temporary folder is mode 0700, so `postgres` cannot enter it).
final class TestTopology: Sendable {
    let root: String
    let regions: [String]
    let zonesPerRegion: Int
    let shardsPerRegion: Int
    /// Every shard lists its zones, so every primary starts in the region's first zone.
    let pinnedPrimaries: Bool
    let controlPort: Int
    let firstPorts: [Int]
    /// `backups.interval_hours`: 0 (the coordinator takes no base backups) unless a test
    /// is about them, so that no backup runs under a test's timing.
    let backupIntervalHours: Int

    var topologyDirectory: String { root + "/regions" }
    var statePath: String { root + "/state" }

    /// Writes a topology of `regions` (`shards` shards each, `zones` zones each) with realms
    /// `r0`, `r1`, ... (one per region) and `all` (every region).
    init(regions: [String], zones: Int, shards: Int = 1, pinnedPrimaries: Bool = false, backupIntervalHours: Int = 0) throws {
        self.backupIntervalHours = backupIntervalHours
        var template = Array("/tmp/residency-test-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw TestError("mkdtemp failed") }
        root = String(cString: made)
        self.regions = regions
        zonesPerRegion = zones
        shardsPerRegion = shards
        self.pinnedPrimaries = pinnedPrimaries
        let base = try Self.freePortBlock(count: 1 + Self.portsPerRegion(zones: zones, shards: shards) * regions.count)
        controlPort = base
        firstPorts = regions.indices.map { base + 1 + Self.portsPerRegion(zones: zones, shards: shards) * $0 }
        try writeTopology()
    }

    func writeTopology(extraApp: String? = nil) throws {
        try FileManager.default.createDirectory(atPath: topologyDirectory, withIntermediateDirectories: true)
        var realms = regions.enumerated().map { "  r\($0.offset): [\($0.element)]" }.joined(separator: "\n")
        realms += "\n  all: all"
        var apps = "  - key: tempo\n    residency_eligible: true\n  - key: legacy\n    residency_eligible: false\n"
        if let extraApp { apps += "  - key: \(extraApp)\n    residency_eligible: true\n" }
        let topology = """
            control:
              port: \(controlPort)
            realms:
            \(realms)
            apps:
            \(apps)
            service_levels:
              premium:
                uptime_percent: 99.9
                credits:
                  - uptime_below_percent: 99.9
                    credit_percent: 10
            backups:
              interval_hours: \(backupIntervalHours)
            """
        try topology.write(toFile: topologyDirectory + "/topology.yaml", atomically: true, encoding: .utf8)
        for (index, region) in regions.enumerated() {
            let zones = (0..<zonesPerRegion).map { "\(region)-\(["a", "b", "c", "d"][$0])" }.joined(separator: ", ")
            let shards = (1...shardsPerRegion).map { "  - id: \(region)-\($0)" + (pinnedPrimaries ? "\n    zones: [\(zones)]" : "") }
            let text = """
                region: \(region)
                zones: [\(zones)]
                ports: \(firstPorts[index])-\(firstPorts[index] + Self.portsPerRegion(zones: zonesPerRegion, shards: shardsPerRegion) - 1)
                shards:
                """ + "\n" + shards.joined(separator: "\n") + "\n"
            try text.write(toFile: "\(topologyDirectory)/\(region).yaml", atomically: true, encoding: .utf8)
        }
    }

    static func portsPerRegion(zones: Int, shards: Int) -> Int { max(10, zones * shards + 1) }

    /// The built `residency` executable, next to the test bundle.
    static var executable: String {
        let testBinary = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
        var directory = testBinary.deletingLastPathComponent()
        while directory.path != "/" {
            let candidate = directory.appendingPathComponent("residency").path
            if FileManager.default.isExecutableFile(atPath: candidate), !candidate.hasSuffix(".xctest") { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return "residency"
    }

    /// Runs `residency ARGS --state <state>` (and `--topology` where the command takes it).
    @discardableResult
    func residency(_ arguments: [String], crashAt: String? = nil) throws -> CommandRunner.Output {
        var command = ["/usr/bin/env"]
        if let crashAt { command.append("\(CrashPoint.environmentVariable)=\(crashAt)") }
        command.append(Self.executable)
        command += arguments
        if ["up", "validate"].contains(arguments.first) { command += ["--topology", topologyDirectory] }
        if arguments.first != "validate" { command += ["--state", statePath] }
        return try CommandRunner.launch(command)
    }

    var layout: StateDirectory.Layout {
        get throws { try StateDirectory(option: statePath).requireLayout() }
    }

    func control() throws -> ControlStore { try ControlStore(layout: layout) }

    /// A connection to the node on `port` (tenant database), as the superuser or `user`.
    func connect(port: Int, user: String = LocalNodeManager.superuser) throws -> Connection {
        try DataNodes(layout: layout).connect(port: port, user: user)
    }

    /// Every node with its port and the role the control store records.
    func nodes() throws -> [(node: NodeID, port: Int, role: NodeRole)] {
        let control = try control()
        let primaries = Set(try control.shards().map(\.primary))
        return try control.nodes().map { ($0.node, $0.port, primaries.contains($0.node) ? .primary : .standby) }
    }

    /// The postmaster pid of every server (data nodes and control), by server folder.
    func serverPIDs() throws -> [String: Int32] {
        let dataRoot = try layout.dataRoot
        var pids: [String: Int32] = [:]
        for server in try FileManager.default.contentsOfDirectory(atPath: dataRoot) {
            if let pid = LocalNodeManager.postmasterPID(dataDirectory: "\(dataRoot)/\(server)/pgdata") { pids[server] = pid }
        }
        return pids
    }

    /// A topology for a whole suite: `up --no-coordinator`, then `tenants` (name, realm)
    /// created with `tenantArguments`; destroyed when the test process exits.
    static func shared(regions: [String], tenants: [(String, String)], tenantArguments: [String] = [], shards: Int = 1,
                       pinnedPrimaries: Bool = false) -> Result<TestTopology, TestError> {
        do {
            let topology = try TestTopology(regions: regions, zones: 3, shards: shards, pinnedPrimaries: pinnedPrimaries)
            destroyAtExit.withLock { $0.append(topology) }
            let up = try topology.residency(["up", "--no-coordinator"])
            guard up.status == 0 else { throw TestError("residency up failed (\(up.status)):\n\(up.text)") }
            for (tenant, realm) in tenants {
                let created = try topology.residency(["tenant", "create", tenant, "--realm", realm] + tenantArguments)
                guard created.status == 0 else { throw TestError("tenant create \(tenant) failed:\n\(created.text)") }
            }
            return .success(topology)
        } catch let error as TestError {
            return .failure(error)
        } catch {
            return .failure(TestError("\(error)"))
        }
    }

    private static let destroyAtExit: Mutex<[TestTopology]> = {
        atexit { TestTopology.destroyAtExit.withLock { $0.forEach { $0.destroy() } } }
        return Mutex([])
    }()

    /// Stops everything and deletes every file, whatever state the test left. Before,
    /// with `RESIDENCY_PASSWORD_AUDIT` set (scripts/test sets it), every server's log is
    /// searched for every password of the topology (superuser, service roles, tenants);
    /// each log read and each password found is appended to that file.
    func destroy() {
        auditLogsForPasswords()
        let dataRoot = try? layout.dataRoot
        _ = try? residency(["down", "--purge"])
        // `down --purge` keeps a vault whose objects are retained (write once); the test's
        // own vault goes with the test.
        if let dataRoot { try? FileManager.default.removeItem(atPath: dataRoot) }
        try? FileManager.default.removeItem(atPath: root)
    }

    private func auditLogsForPasswords() {
        guard let audit = ProcessInfo.processInfo.environment["RESIDENCY_PASSWORD_AUDIT"], let layout = try? layout,
              let secrets = try? Secrets.read(from: layout.passfile) else { return }
        let credentials = TenantCredentials(layout: layout)
        let tenantFiles = (try? FileManager.default.contentsOfDirectory(atPath: credentials.directory)) ?? []
        let tenants = tenantFiles.filter { $0.hasSuffix(".pgpass") }.compactMap { TenantID(validating: String($0.dropLast(7))) }
        let passwords = [secrets.superuserPassword] + secrets.servicePasswords.values + tenants.compactMap { try? credentials.password(of: $0) }
        var lines: [String] = []
        for server in (try? FileManager.default.contentsOfDirectory(atPath: layout.dataRoot)) ?? [] {
            let path = "\(layout.dataRoot)/\(server)/server.log"
            guard let log = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
            let found = passwords.filter { log.contains($0) }.count
            lines.append(found == 0 ? "read \(path): \(passwords.count) passwords, none found" : "FOUND \(found) password(s) in \(path)")
        }
        guard let handle = FileHandle(forWritingAtPath: audit) else { return }
        handle.seekToEndOfFile()
        handle.write(Data(lines.map { $0 + "\n" }.joined().utf8))
        try? handle.close()
    }

    /// `count` consecutive free loopback ports from a random base, so that parallel runs
    /// cannot collide: below Linux's ephemeral range (32768+, where a client connection can
    /// hold a port for a while) and away from the default topology (25400-25439) and the
    /// benchmarks' (30400-30439).
    static func freePortBlock(count: Int) throws -> Int {
        for _ in 0..<200 {
            let base = Int.random(in: 10_000...(32_000 - count))
            let block = base..<(base + count)
            guard !block.overlaps(25_400..<25_440), !block.overlaps(30_400..<30_440) else { continue }
            if block.allSatisfy(LocalNodeManager.isPortFree) { return base }
        }
        throw TestError("no block of \(count) free ports found")
    }
}

struct TestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Polls `condition` every 20 ms until it holds or `seconds` pass.
func eventually(_ seconds: Double = 15, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    repeat {
        if try condition() { return true }
        usleep(20_000)
    } while Date() < deadline
    return try condition()
}
