import Foundation
import ResidencyCore
import ResidencyPostgres
import ResidencyVault
#if canImport(Glibc)
import Glibc
#endif

/// What `up` prepares so that a shard's servers can archive into their region's vault:
///
/// - `<data root>/bin/residency`: a copy of this executable the server user can run
///   (PostgreSQL runs `archive_command`; a clone under a 0700 folder is out of its reach);
/// - `<data root>/vault/<region>/`: the region's vault (local storage);
/// - `<data root>/keys/<region>.key`: the region's key, generated once, mode 0600;
/// - `<data root>/vault.json`: the layout `wal-push` and `wal-fetch` read.
///
/// Every one of them belongs to the server user.
public enum VaultSetup {
    public static func ensure(layout: StateDirectory.Layout, topology: Topology, user: ServerUser, executable: String? = nil) throws(RuntimeError) -> VaultLayout {
        let root = layout.dataRoot
        for folder in [root + "/bin", root + "/vault", root + "/keys"] + topology.regions.map({ "\(root)/vault/\($0.id)" }) {
            try makeOwnedDirectory(folder, mode: folder.hasSuffix("/bin") ? 0o755 : 0o700, user: user)
        }
        let binary = root + "/bin/residency"
        try installExecutable(executable, at: binary, user: user)
        var regions: [String: VaultLayout.RegionVault] = [:]
        for region in topology.regions {
            let keyPath = "\(root)/keys/\(region.id).key"
            if !FileManager.default.fileExists(atPath: keyPath) {
                do {
                    try VaultKey.generate().write(to: keyPath)
                } catch {
                    throw RuntimeError(.unavailable, "cannot create the vault key of region \(region.id): \(error.message)")
                }
            }
            try own(keyPath, user: user)
            regions[region.id.rawValue] = .init(root: "\(root)/vault/\(region.id)", key: keyPath)
        }
        var shards: [String: String] = [:]
        for region in topology.regions {
            for shard in region.shards { shards[shard.id.rawValue] = region.id.rawValue }
        }
        let vaultLayout = VaultLayout(binary: binary, retainDays: topology.backups.effectiveRetentionDays, regions: regions, shards: shards)
        let path = VaultLayout.path(dataRoot: root)
        if FileManager.default.contents(atPath: path) != vaultLayout.encoded() {
            try PrivateFile.write(String(decoding: vaultLayout.encoded(), as: UTF8.self), to: path)
            try own(path, user: user)
        }
        return vaultLayout
    }

    /// The `postgresql.conf` lines of a shard's members: every member archives (`always`),
    /// so a failover never leaves a hole in the archive; a finished segment is archived
    /// within `archive_timeout` even when little is written.
    public static func archiveSettings(_ vault: VaultLayout, dataRoot: String, shard: ShardID) -> String {
        let command = vault.archiveCommand(layoutPath: VaultLayout.path(dataRoot: dataRoot), shard: shard.rawValue)
        return """
            # --- residency: the shard's WAL archive in its region's vault ---
            archive_mode = always
            \(LocalNodeManager.settingLine("archive_command", command))
            archive_timeout = '60s'

            """
    }

    /// The vault layout of a created topology.
    public static func load(_ layout: StateDirectory.Layout) throws(RuntimeError) -> VaultLayout {
        do {
            return try VaultLayout.load(VaultLayout.path(dataRoot: layout.dataRoot))
        } catch {
            throw RuntimeError(.unavailable, "\(error.message); this topology was created before the vault existed: run `residency up` once more")
        }
    }

    /// How many objects of the topology's vaults are still retained, and the latest
    /// retain-until among them (read from the headers; an unreadable header counts as retained
    /// for ever).
    public static func retainedObjects(_ layout: StateDirectory.Layout, now: Date = Date()) -> (count: Int, until: Int64) {
        let root = layout.dataRoot + "/vault"
        var count = 0
        var until: Int64 = 0
        for region in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] {
            let storage = LocalVaultStorage(root: root + "/" + region)
            for (name, _) in (try? storage.list(prefix: "")) ?? [] {
                let retainUntil = (try? storage.get(name) { stream throws(VaultError) in try ObjectCodec.readHeader(&stream).header.retainUntil }) ?? Int64.max
                if retainUntil > Int64(now.timeIntervalSince1970) {
                    count += 1
                    until = max(until, retainUntil)
                }
            }
        }
        return (count, until)
    }

    static func installExecutable(_ executable: String?, at path: String, user: ServerUser) throws(RuntimeError) {
        let source = executable ?? (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        guard let data = FileManager.default.contents(atPath: source) else {
            throw RuntimeError(.unavailable, "cannot read this executable (\(source)) to install it for the servers' archive_command")
        }
        if FileManager.default.contents(atPath: path) == data { return }
        let temporary = path + ".new-\(getpid())"
        do {
            try data.write(to: URL(fileURLWithPath: temporary))
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: temporary)
        } catch {
            throw RuntimeError(.unavailable, "cannot install \(path): \(error)")
        }
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw RuntimeError(.unavailable, "cannot install \(path): \(String(cString: strerror(errno)))")
        }
    }

    static func makeOwnedDirectory(_ path: String, mode: Int, user: ServerUser) throws(RuntimeError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: mode])
        } catch {
            throw RuntimeError(.unavailable, "cannot create \(path): \(error)")
        }
        try own(path, user: user)
    }

    static func own(_ path: String, user: ServerUser) throws(RuntimeError) {
        do { try user.own(path) } catch { throw RuntimeError(.unavailable, error.description) }
    }
}
