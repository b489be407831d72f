import Foundation
import ResidencyCore
import ResidencyPostgres
import ResidencyVault

/// One tenant's rows as of a point in time, written back into its live shard without
/// touching any other tenant:
///
/// 1. the shard is restored to the target into a scratch server (`BackupService.restore`);
/// 2. the tenant's writes are frozen on the live primary (its write fence), and every
///    transaction that began before is waited out;
/// 3. its current rows are sealed into the vault (`tenants/<tenant>/<restore id>/...`,
///    binary COPY per table, kept for the retention like any object): the replaced copy;
/// 4. in one transaction on the live primary, its rows of every table are deleted and the
///    scratch server's inserted; the digests of both sides are compared before COMMIT, so a
///    difference commits nothing;
/// 5. the fence is lifted and the scratch server removed.
///
/// A run killed anywhere leaves either the old rows or the restored ones (never a mix), and
/// the tenant possibly frozen; running the same restore again finishes it. Only the tables
/// on the tenant's shard are restored: an app whose data stayed on another shard (not
/// residency-eligible, left behind by a move) is listed as skipped.
public struct TenantRestore {
    public let service: BackupService

    public init(service: BackupService) { self.service = service }

    public static let crashPoints = ["tenant-restore.after-freeze", "tenant-restore.after-retained-copy", "tenant-restore.after-swap"]

    public struct Report: Sendable, Codable {
        public struct Table: Sendable, Codable {
            public var table: String
            public var rowsBefore: Int64
            public var rowsAfter: Int64
        }

        public var tenant: String
        public var shard: String
        public var backup: String
        public var targetTime: Double
        public var tables: [Table]
        /// Vault objects holding the rows that were replaced.
        public var replacedCopy: [String]
        /// Apps whose data lives on another shard, not restored.
        public var skipped: [String]
        public var seconds: Double
        /// How long the tenant's writes were frozen.
        public var frozenSeconds: Double
        /// When (Unix seconds) its writes were frozen, and when the swap committed (before the thaw).
        public var frozeAt: Double
        public var swappedAt: Double
    }

    /// What `restore(_:to:into:)` did.
    public struct IntoReport: Sendable, Codable {
        public struct Table: Sendable, Codable {
            public var table: String
            public var rows: Int64
        }

        public var tenant: String
        public var into: String
        public var shard: String
        public var backup: String
        public var targetTime: Double
        public var tables: [Table]
        public var skipped: [String]
        public var seconds: Double
    }

    /// `tenant`'s rows as of `target` copied into a new tenant `newName` (same realm, products
    /// and apps, placed like any new tenant in the region of `tenant`'s shard), its rows'
    /// `tenant_id` rewritten; `tenant` itself is not touched. The copy is one transaction: a
    /// run killed half-way leaves the new tenant without rows (delete it and run again).
    public func restore(_ tenant: TenantID, to target: Date, into newName: String, timeout: Duration = .seconds(900),
                        progress: (String) -> Void = { _ in }) throws(RuntimeError) -> IntoReport {
        let clock = ContinuousClock()
        let began = clock.now
        guard let newTenant = TenantID(validating: newName) else {
            throw RuntimeError(.invalidInput, "--into \(String(reflecting: newName)) is not a tenant name: use \(TenantID.pattern)")
        }
        let tenants = try service.control.tenants()
        guard let record = tenants.first(where: { $0.id == tenant }) else {
            throw RuntimeError(.invalidInput, "no tenant \(String(reflecting: tenant.rawValue)) (see residency tenant list)")
        }
        guard !tenants.contains(where: { $0.id == newTenant }) else {
            throw RuntimeError(.invalidInput, "tenant \(newTenant) exists: choose a new name (or delete it with `residency tenant delete \(newTenant) --yes` and run again)")
        }
        let topology = try service.control.requireTopology()
        let (tables, skipped) = Self.tables(of: record, in: topology)
        let restored = try scratch(of: tenant, shard: record.shard, at: target, timeout: timeout, progress: progress)
        defer { _ = try? service.discard(restored: restored.server) }
        progress("creating tenant \(newTenant) (realm \(record.realm))")
        let created = try TenantCatalog(control: service.control, data: service.data, topology: topology).create(TenantCatalog.Request(
            name: newTenant.rawValue, realm: record.realm.rawValue, region: topology.shard(record.shard)?.region.rawValue,
            products: record.products, apps: record.apps))
        let live = try connection(port: try primaryPort(of: created.shard))
        let scratch = try connection(port: restored.port)
        var report = IntoReport(tenant: tenant.rawValue, into: newTenant.rawValue, shard: created.shard.rawValue, backup: restored.backup,
                                targetTime: target.timeIntervalSince1970, tables: [], skipped: skipped, seconds: 0)
        do {
            try live.execute("BEGIN")
            for table in tables {
                let name = "\(SQLText.identifier(table.schema)).\(SQLText.identifier(table.table))"
                let columns = try live.columnNames(of: name)
                let select = columns.map { $0 == "tenant_id" ? "\(SQLText.literal(newTenant.rawValue))::text AS tenant_id" : $0 }.joined(separator: ", ")
                let rows = try scratch.copy(
                    "COPY (SELECT \(select) FROM \(name) WHERE tenant_id = \(SQLText.literal(tenant.rawValue))) TO STDOUT (FORMAT binary)",
                    into: live, "COPY \(name) (\(columns.joined(separator: ", "))) FROM STDIN (FORMAT binary)")
                let expected = Int64(try scratch.query("SELECT count(*) FROM \(name) WHERE tenant_id = $1", [tenant.rawValue]).scalar ?? "") ?? -1
                guard rows == expected else {
                    _ = try? live.execute("ROLLBACK")
                    throw RuntimeError(.unavailable, "restore of \(tenant) into \(newTenant): \(table.schema).\(table.table) took \(rows) rows of \(expected); rolled back")
                }
                report.tables.append(.init(table: "\(table.schema).\(table.table)", rows: rows))
            }
            try live.execute("COMMIT")
        } catch let error as RuntimeError {
            throw error
        } catch {
            _ = try? live.execute("ROLLBACK")
            throw RuntimeError(.unavailable, "restore of \(tenant) into \(newTenant): \(error); \(newTenant) exists without rows: delete it and run again")
        }
        report.seconds = (clock.now - began).inSeconds
        try? service.control.appendEvent(kind: "tenant.restored-into", shard: created.shard,
                                         detail: "tenant \(tenant) as of \(ShardRestore.postgresTime(target)) copied into new tenant \(newTenant) from \(restored.backup)")
        return report
    }

    /// The tables restored for `record`: those on its shard (an app whose data stayed on
    /// another shard is skipped, and named).
    static func tables(of record: Tenant, in topology: Topology) -> (tables: [(schema: String, table: String)], skipped: [String]) {
        let skipped = record.appShards.filter { $0.value != record.shard }.map(\.key).sorted()
        let tables = TenantSchema.tables(apps: topology.apps).filter { table in
            !topology.apps.contains { $0.schemaName == table.schema && skipped.contains($0.key.rawValue) }
        }
        return (tables, skipped)
    }

    /// The tenant's shard restored to `target` beside the live one; a scratch server an
    /// interrupted run of the same restore left behind is removed first.
    func scratch(of tenant: TenantID, shard: ShardID, at target: Date, timeout: Duration, progress: (String) -> Void) throws(RuntimeError) -> ShardRestore.Restored {
        let prefix = "tenant-\(tenant)-"
        for leftover in service.restoredServers(prefix: prefix) {
            progress("removing \(leftover), left by an interrupted restore of \(tenant)")
            try service.discard(restored: leftover)
        }
        return try service.restore(shard, target: .time(target), port: nil, timeout: timeout, namePrefix: String(prefix.dropLast()), progress: progress)
    }

    func primaryPort(of shard: ShardID) throws(RuntimeError) -> Int {
        let primary = try service.shardRecord(shard).primary
        guard let port = try service.control.nodes().first(where: { $0.node == primary })?.port else {
            throw RuntimeError(.unavailable, "shard \(shard): its primary \(primary) has no port in the control store")
        }
        return port
    }

    /// A superuser session without a statement timeout, with `RowDigest`'s settings.
    func connection(port: Int) throws(RuntimeError) -> Connection {
        do {
            var settings = service.data.settings(port: port)
            settings.statementTimeoutMilliseconds = 0
            let connection = try Connection(settings)
            try RowDigest.prepare(connection)
            return connection
        } catch {
            throw RuntimeError(.unavailable, "cannot reach the server on port \(port): \(error)")
        }
    }

    public func restore(_ tenant: TenantID, to target: Date, timeout: Duration = .seconds(900), progress: (String) -> Void = { _ in }) throws(RuntimeError) -> Report {
        let clock = ContinuousClock()
        let began = clock.now
        guard let record = try service.control.tenants().first(where: { $0.id == tenant }) else {
            throw RuntimeError(.invalidInput, "no tenant \(String(reflecting: tenant.rawValue)) (see residency tenant list)")
        }
        let topology = try service.control.requireTopology()
        let (tables, skipped) = Self.tables(of: record, in: topology)
        let restored = try scratch(of: tenant, shard: record.shard, at: target, timeout: timeout, progress: progress)
        defer { _ = try? service.discard(restored: restored.server) }
        let primary = try service.shardRecord(record.shard).primary
        let live = try connection(port: try primaryPort(of: record.shard))
        let scratch = try connection(port: restored.port)
        let stamp = BaseBackup.identifier(Date())
        let backups = try service.backups(of: record.shard)
        let retainUntil = Date().addingTimeInterval(Double(service.vaultLayout.retainDays) * 86_400)
        var report = Report(tenant: tenant.rawValue, shard: record.shard.rawValue, backup: restored.backup, targetTime: target.timeIntervalSince1970,
                            tables: [], replacedCopy: [], skipped: skipped, seconds: 0, frozenSeconds: 0, frozeAt: 0, swappedAt: 0)
        // The restored copy does not change: its digests are taken before the freeze.
        var wanted: [String: TableDigest] = [:]
        do {
            for table in tables {
                wanted["\(table.schema).\(table.table)"] = try RowDigest.digest(schema: table.schema, table: table.table, tenant: tenant, on: scratch)
            }
        } catch {
            throw RuntimeError(.unavailable, "tenant restore of \(tenant): cannot read the restored copy: \(error)")
        }
        progress("freezing tenant \(tenant)'s writes on \(primary)")
        let frozeAt = clock.now
        report.frozeAt = Date().timeIntervalSince1970
        do {
            try TenantFence.freeze(tenant, reason: "restore to \(ShardRestore.postgresTime(target))", on: live)
            CrashPoint.reach("tenant-restore.after-freeze")
            // The replaced rows, sealed before anything is changed.
            for table in tables {
                let name = "\(table.schema).\(table.table)"
                let bytes = try live.copyOut("COPY (SELECT * FROM \(SQLText.identifier(table.schema)).\(SQLText.identifier(table.table)) WHERE tenant_id = \(SQLText.literal(tenant.rawValue))) TO STDOUT (FORMAT binary)")
                let object = "tenants/\(tenant)/\(stamp)/replaced/\(name).pgcopy"
                var source = MemoryStream(bytes)
                try BackupService.vault { () throws(VaultError) in _ = try backups.vault.store(object, from: &source, retainUntil: retainUntil) }
                report.replacedCopy.append(object)
            }
            CrashPoint.reach("tenant-restore.after-retained-copy")
            progress("replacing tenant \(tenant)'s rows in one transaction")
            try live.execute("BEGIN")
            // Replica role: the fence's trigger and foreign-key triggers do not fire, so the
            // tables can be emptied and filled in any order inside the transaction.
            try live.execute("SET LOCAL session_replication_role = replica")
            for table in tables {
                let name = "\(SQLText.identifier(table.schema)).\(SQLText.identifier(table.table))"
                let before = try live.query("SELECT count(*) FROM \(name) WHERE tenant_id = $1", [tenant.rawValue]).scalar.flatMap { Int64($0 ?? "") } ?? 0
                try live.query("DELETE FROM \(name) WHERE tenant_id = $1", [tenant.rawValue])
                let columns = try live.columnNames(of: name).joined(separator: ", ")
                let rows = try scratch.copy(
                    "COPY (SELECT \(columns) FROM \(name) WHERE tenant_id = \(SQLText.literal(tenant.rawValue))) TO STDOUT (FORMAT binary)",
                    into: live, "COPY \(name) (\(columns)) FROM STDIN (FORMAT binary)")
                let expected = wanted["\(table.schema).\(table.table)"]
                let got = try RowDigest.digest(schema: table.schema, table: table.table, tenant: tenant, on: live)
                guard expected == got else {
                    _ = try? live.execute("ROLLBACK")
                    throw RuntimeError(.unavailable, "tenant restore of \(tenant): \(table.schema).\(table.table) differs from the restored copy after the swap (\(got) vs \(String(describing: expected))); rolled back, nothing changed")
                }
                report.tables.append(.init(table: "\(table.schema).\(table.table)", rowsBefore: before, rowsAfter: rows))
            }
            try live.execute("COMMIT")
            report.swappedAt = Date().timeIntervalSince1970
            CrashPoint.reach("tenant-restore.after-swap")
            try TenantFence.unfreeze(tenant, on: live)
        } catch let error as RuntimeError {
            _ = try? live.execute("ROLLBACK")
            throw error
        } catch {
            _ = try? live.execute("ROLLBACK")
            throw RuntimeError(.unavailable, "tenant restore of \(tenant): \(error); the tenant stays frozen until this restore is run again and succeeds")
        }
        report.frozenSeconds = (clock.now - frozeAt).inSeconds
        report.seconds = (clock.now - began).inSeconds
        try? service.control.appendEvent(kind: "tenant.restored", shard: record.shard, epoch: nil,
                                         detail: "tenant \(tenant) restored to \(ShardRestore.postgresTime(target)) from \(restored.backup); replaced rows kept in the vault under tenants/\(tenant)/\(stamp)/")
        return report
    }
}
