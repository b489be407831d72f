import Foundation
import ResidencyCore
import ResidencyVault

/// Which tenants' data each region's vault holds, for `report residency`: a base backup
/// holds the tenants its manifest lists; a shard's WAL archive every tenant that was on the
/// shard (now, in a backup's manifest, or at either end of a move); a tenant restore's
/// replaced rows their tenant.
public enum VaultCensus {
    public static func take(service: BackupService, tenants: [Tenant], moves: [Move]) throws(RuntimeError) -> [ResidencyAudit.VaultHolding] {
        var holdings: [ResidencyAudit.VaultHolding] = []
        for region in service.vaultLayout.regions.keys.sorted() {
            let vault = try BackupService.vault { () throws(VaultError) in try service.vaultLayout.vault(region: region, keyFile: service.keyFile) }
            let objects = try BackupService.vault { () throws(VaultError) in try vault.storage.list(prefix: "") }
            func retainUntil(_ names: [String]) -> String {
                let latest = names.compactMap { try? vault.header($0).retainUntil }.max() ?? 0
                return Date(timeIntervalSince1970: Double(latest)).formatted(.iso8601)
            }
            var onShard: [ShardID: Set<TenantID>] = [:]
            for tenant in tenants { onShard[tenant.shard, default: []].insert(tenant.id) }
            for move in moves {
                onShard[move.plan.fromShard, default: []].insert(move.tenant)
                onShard[move.plan.toShard, default: []].insert(move.tenant)
            }
            // Base backups, per shard and tenant.
            let manifests = objects.filter { $0.name.hasPrefix("base/") && $0.name.hasSuffix("/manifest.json") }
            var backups: [ShardID: [(manifest: BackupManifest, bytes: Int64)]] = [:]
            for (name, bytes) in manifests {
                let shard = ShardID(String(name.split(separator: "/")[1]))
                let manifest = try BackupService.vault { () throws(VaultError) in
                    try BaseBackup(vault: vault, shard: shard.rawValue, retainDays: 0, binaries: service.binaries).manifest(name)
                }
                backups[shard, default: []].append((manifest, bytes + manifest.storedBytes))
                for tenant in manifest.tenants.compactMap(TenantID.init(validating:)) { onShard[shard, default: []].insert(tenant) }
            }
            for (shard, list) in backups {
                let latest = Date(timeIntervalSince1970: list.map(\.manifest.retainUntil).max() ?? 0).formatted(.iso8601)
                let tenantsInBackups = Set(list.flatMap(\.manifest.tenants).compactMap(TenantID.init(validating:)))
                for tenant in tenantsInBackups {
                    let holding = list.filter { $0.manifest.tenants.contains(tenant.rawValue) }
                    holdings.append(.init(tenant: tenant, region: RegionID(region), shard: shard, kind: .baseBackup,
                                          objects: holding.count * 2, bytes: holding.reduce(0) { $0 + $1.bytes }, retainUntil: latest))
                }
            }
            // WAL archives, per shard.
            let wal = Dictionary(grouping: objects.filter { $0.name.hasPrefix("wal/") }) { ShardID(String($0.name.split(separator: "/")[1])) }
            for (shard, files) in wal {
                let newest = files.map(\.name).max().map { [$0] } ?? []
                let until = retainUntil(newest)
                for tenant in (onShard[shard] ?? []).sorted() {
                    holdings.append(.init(tenant: tenant, region: RegionID(region), shard: shard, kind: .wal, objects: files.count,
                                          bytes: files.reduce(0) { $0 + $1.bytes }, retainUntil: until))
                }
            }
            // Rows replaced by tenant restores.
            let replaced = Dictionary(grouping: objects.filter { $0.name.hasPrefix("tenants/") }) { String($0.name.split(separator: "/")[1]) }
            for (name, files) in replaced {
                guard let tenant = TenantID(validating: name) else { continue }
                holdings.append(.init(tenant: tenant, region: RegionID(region), shard: nil, kind: .replacedRows, objects: files.count,
                                      bytes: files.reduce(0) { $0 + $1.bytes }, retainUntil: retainUntil(files.map(\.name))))
            }
        }
        return holdings
    }
}
