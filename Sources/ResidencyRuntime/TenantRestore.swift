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

    public func restore(_ tenant: TenantID, to target: Date, timeout: Duration = .seconds(900), progress: (String) -> Void = { _ in }) throws(RuntimeError) -> Report {
        let clock = ContinuousClock()
        let began = clock.now
        guard let record = try service.control.tenants().first(where: { $0.id == tenant }) else {
            throw RuntimeError(.invalidInput, "no tenant \(String(reflecting: tenant.rawValue)) (see residency tenant list)")
        }
        let topology = try service.control.requireTopology()
        let skipped = record.appShards.filter { $0.value != record.shard }.map(\.key).sorted()
        let tables = TenantSchema.tables(apps: topology.apps).filter { table in
            !topology.apps.contains { $0.schemaName == table.schema && skipped.contains($0.key.rawValue) }
        }
        // A scratch server an interrupted run of this restore left behind goes first.
        let prefix = "tenant-\(tenant)-"
        for leftover in service.restoredServers(prefix: prefix) {
            progress("removing \(leftover), left by an interrupted restore of \(tenant)")
            try service.discard(restored: leftover)
        }
        let restored = try service.restore(record.shard, target: .time(target), port: nil, timeout: timeout, namePrefix: String(prefix.dropLast()),
                                           progress: progress)
        defer { _ = try? service.discard(restored: restored.server) }

        let primary = try service.shardRecord(record.shard).primary
        guard let primaryPort = try service.control.nodes().first(where: { $0.node == primary })?.port else {
            throw RuntimeError(.unavailable, "shard \(record.shard): its primary \(primary) has no port in the control store")
        }
        let live: Connection
        let scratch: Connection
        do {
            var settings = service.data.settings(port: primaryPort)
            settings.statementTimeoutMilliseconds = 0
            live = try Connection(settings)
            var scratchSettings = service.data.settings(port: restored.port)
            scratchSettings.statementTimeoutMilliseconds = 0
            scratch = try Connection(scratchSettings)
            try RowDigest.prepare(live)
            try RowDigest.prepare(scratch)
        } catch {
            throw RuntimeError(.unavailable, "tenant restore of \(tenant): \(error)")
        }
        let stamp = BaseBackup.identifier(Date())
        let backups = try service.backups(of: record.shard)
        let retainUntil = Date().addingTimeInterval(Double(service.vaultLayout.retainDays) * 86_400)
        var report = Report(tenant: tenant.rawValue, shard: record.shard.rawValue, backup: restored.backup, targetTime: target.timeIntervalSince1970,
                            tables: [], replacedCopy: [], skipped: skipped, seconds: 0, frozenSeconds: 0, frozeAt: 0, swappedAt: 0)
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
                let columns = try live.query("""
                    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
                    WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped
                    """, [name]).scalar ?? "*"
                let rows = try scratch.copy(
                    "COPY (SELECT \(columns) FROM \(name) WHERE tenant_id = \(SQLText.literal(tenant.rawValue))) TO STDOUT (FORMAT binary)",
                    into: live, "COPY \(name) (\(columns)) FROM STDIN (FORMAT binary)")
                let wanted = try RowDigest.digest(schema: table.schema, table: table.table, tenant: tenant, on: scratch)
                let got = try RowDigest.digest(schema: table.schema, table: table.table, tenant: tenant, on: live)
                guard wanted == got else {
                    _ = try? live.execute("ROLLBACK")
                    throw RuntimeError(.unavailable, "tenant restore of \(tenant): \(table.schema).\(table.table) differs from the restored copy after the swap (\(got) vs \(wanted)); rolled back, nothing changed")
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
