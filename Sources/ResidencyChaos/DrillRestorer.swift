import Foundation
import ResidencyCore
import ResidencyPostgres
import ResidencyRuntime
import ResidencyVault

/// A drill's `delete-tenant-rows` and `restore-tenant` actions: the mistake (every row of a
/// tenant deleted, the moment just before it noted) and the repair (`backup restore --tenant`
/// to that moment). Before the workload it takes a base backup of each restored tenant's
/// shard, and counts the other tenants' rows, to show afterwards that they neither lost nor
/// gained one.
final class DrillRestorer {
    let scenario: Scenario
    let control: ControlStore
    let data: DataNodes
    let service: BackupService?
    let progress: (String) -> Void
    private var mistakes: [TenantID: Date] = [:]
    private(set) var restores: [DrillHistory.TenantRestore] = []
    private var countsBefore: [TenantID: Int64] = [:]

    init(scenario: Scenario, state: StateDirectory, control: ControlStore, data: DataNodes, progress: @escaping (String) -> Void) throws {
        self.scenario = scenario
        self.control = control
        self.data = data
        self.progress = progress
        let restored = scenario.restoredTenants
        guard !restored.isEmpty else {
            service = nil
            return
        }
        let service = try BackupService(state: state)
        self.service = service
        let tenants = try control.tenants()
        for shard in Set(tenants.filter { restored.contains($0.id) }.map(\.shard)).sorted() {
            progress("base backup of shard \(shard): where a tenant restore starts")
            _ = try service.take(shard)
        }
        for tenant in scenario.tenants where !restored.contains(tenant.name) {
            countsBefore[tenant.name] = try count(tenant.name)
        }
    }

    /// `jira.issues` rows of `tenant` on its shard's primary.
    func count(_ tenant: TenantID) throws -> Int64 {
        let connection = try primary(of: tenant)
        return Int64(try connection.query("SELECT count(*) FROM jira.issues WHERE tenant_id = $1", [tenant.rawValue]).scalar ?? "") ?? 0
    }

    func primary(of tenant: TenantID) throws -> Connection {
        guard let record = try control.tenants().first(where: { $0.id == tenant }),
              let shard = try control.shards().first(where: { $0.shard == record.shard }),
              let node = try control.nodes().first(where: { $0.node == shard.primary })
        else { throw RuntimeError(.unavailable, "tenant \(tenant) has no reachable primary") }
        return try data.connect(port: node.port)
    }

    /// The mistake: every row of `tenant`, every table, in one transaction.
    func deleteRows(of tenant: TenantID) throws {
        let connection = try primary(of: tenant)
        let topology = try control.requireTopology()
        mistakes[tenant] = Date()
        try connection.execute("BEGIN")
        try connection.execute("SET LOCAL session_replication_role = replica")
        var deleted: Int64 = 0
        for table in TenantSchema.tables(apps: topology.apps) {
            let name = "\(SQLText.identifier(table.schema)).\(SQLText.identifier(table.table))"
            let result = try connection.query("WITH gone AS (DELETE FROM \(name) WHERE tenant_id = $1 RETURNING 1) SELECT count(*) FROM gone", [tenant.rawValue])
            deleted += Int64(result.scalar ?? "") ?? 0
        }
        try connection.execute("COMMIT")
        progress("deleted every row of \(tenant) (\(deleted) rows): the mistake")
    }

    /// The repair: `tenant` restored to just before its rows were deleted. A failure is
    /// recorded (the verdict fails on it), not thrown: the drill still checks everything else.
    func restore(_ tenant: TenantID) {
        guard let service, let mistake = mistakes[tenant] else { return }
        let targetMs = Int64((mistake.timeIntervalSince1970 * 1000).rounded(.down))
        do {
            let report = try TenantRestore(service: service).restore(tenant, to: mistake, progress: progress)
            progress("restored \(tenant) to \(ShardRestore.postgresTime(mistake)) in \(String(format: "%.1f", report.seconds)) s (writes frozen \(String(format: "%.2f", report.frozenSeconds)) s)")
            restores.append(DrillHistory.TenantRestore(tenant: tenant, targetMs: targetMs, frozeAtMs: Int64(report.frozeAt * 1000),
                                                       swappedAtMs: Int64(report.swappedAt * 1000), error: nil))
        } catch {
            progress("restore of \(tenant) failed: \(error)")
            restores.append(DrillHistory.TenantRestore(tenant: tenant, targetMs: targetMs, frozeAtMs: nil, swappedAtMs: nil, error: "\(error)"))
        }
    }

    /// The other tenants' rows before the workload and now.
    func rowCounts() throws -> [DrillHistory.RowCount] {
        try countsBefore.keys.sorted().map { tenant in
            DrillHistory.RowCount(tenant: tenant, before: countsBefore[tenant]!, after: try count(tenant))
        }
    }
}
