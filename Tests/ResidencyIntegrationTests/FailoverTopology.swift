import Foundation
import ResidencyChaos
import ResidencyCore
import ResidencyPostgres
import ResidencyRuntime
#if canImport(Glibc)
import Glibc
#endif

/// The 2 regions x 3 zones topology of the failover tests, created without a coordinator
/// (each test starts the coordinators it needs), destroyed when the test process exits.
enum FailoverTopology {
    private static let instance = TestTopology.shared(regions: ["left", "right"], tenants: [("wayne", "r0"), ("stark", "r1")])

    static func get() throws -> TestTopology { try instance.get() }
}

extension TestTopology {
    /// Starts `residency coordinator` in the background (with a crash point, if given); returns its pid.
    func startCoordinator(crashAt: String? = nil) throws -> Int32 {
        var command = ["/usr/bin/env"]
        if let crashAt { command.append("\(CrashPoint.environmentVariable)=\(crashAt)") }
        command += [Self.executable, "coordinator", "--state", statePath]
        return try CommandRunner.spawnDetached(command, logFile: root + "/coordinator-\(UInt32.random(in: 0...UInt32.max)).log")
    }

    func stopCoordinator(_ pid: Int32) {
        kill(pid, SIGCONT)
        kill(pid, SIGTERM)
        for _ in 0..<250 where LocalNodeManager.isAlive(pid) { usleep(20_000) }
        if LocalNodeManager.isAlive(pid) { kill(pid, SIGKILL) }
        var status: Int32 = 0
        waitpid(pid, &status, WNOHANG)
    }

    func waitForLeader(_ seconds: Double = 10) throws -> Bool {
        try eventually(seconds) { try control().leaseHolder() != nil }
    }

    func shard(_ id: ShardID) throws -> ControlStore.ShardRecord {
        guard let shard = try control().shards().first(where: { $0.shard == id }) else { throw TestError("no shard \(id)") }
        return shard
    }

    func port(_ node: NodeID) throws -> Int {
        guard let port = try nodes().first(where: { $0.node == node })?.port else { throw TestError("no node \(node)") }
        return port
    }

    func zoneFaults() throws -> ZoneFaults { try ZoneFaults(layout: layout, control: control()) }

    /// Waits until `status` exits 0 (every shard whole again).
    func waitHealthy(_ seconds: Double = 60) throws -> Bool {
        try eventually(seconds) { try residency(["status"]).status == 0 }
    }

    /// The nodes of `shard` that answer as primaries right now.
    func answeringPrimaries(_ shard: ShardID) throws -> [NodeID] {
        try nodes().filter { $0.node.shard == shard }.compactMap { node in
            guard let connection = try? Connection(DataNodes(layout: layout).settings(port: node.port, connectTimeoutSeconds: 2),
                                                   deadline: .now + .seconds(1)),
                  let inRecovery = try? connection.query("SELECT pg_is_in_recovery()", deadline: .now + .seconds(1)).scalar
            else { return nil }
            return inRecovery == "f" ? node.node : nil
        }
    }

    /// The acknowledged ids of `history` that are missing from the primary of `shard`.
    func missingAcknowledged(_ history: [WriteAttempt], shard id: ShardID) throws -> [String] {
        let acknowledged = history.filter { $0.outcome == .ok }.map(\.id)
        guard !acknowledged.isEmpty else { return [] }
        let primary = try shard(id).primary
        let found = try connect(port: try port(primary))
            .query("SELECT id::text FROM jira.issues WHERE id = ANY($1::uuid[])", ["{" + acknowledged.joined(separator: ",") + "}"])
            .rows.compactMap { $0[0] }
        return Array(Set(acknowledged).subtracting(found))
    }

    func writer(_ tenant: String) throws -> TenantWriter {
        let id = TenantID(validating: tenant)!
        return TenantWriter(connectionString: try TenantConnection.connectionString(for: id, control: control(), layout: layout), tenant: id)
    }
}
