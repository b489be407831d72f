import Foundation
import ResidencyCore
import ResidencyPostgres
#if canImport(Glibc)
import Glibc
#endif

/// `backup restore --promote`: a shard's point-in-time restore, staged as the restored server
/// `<data root>/restores/promote-<shard>` (recovered, promoted, then stopped cleanly), becomes
/// the data directory of one of the shard's nodes during the coordinator's `install` step.
///
/// The install is a sequence of renames, each safe to repeat: the staged directory is first
/// marked with the operation's epoch, the node's own directory is moved aside (kept as the
/// restored server `replaced-<node>-e<epoch>`, removed by `backup discard` or `down`), the
/// staged one is renamed into its place, then configured as the shard's primary. A rerun after
/// a crash at any point finds which renames happened by the marker and finishes the rest.
public struct RestorePromotion: Sendable {
    /// The manager of the shard's nodes (restored servers live beside, in `restores/`).
    public let manager: LocalNodeManager
    public let shard: ShardID

    public init(manager: LocalNodeManager, shard: ShardID) {
        self.manager = manager
        self.shard = shard
    }

    /// The file in a staged data directory that names the epoch of the restore installing it.
    /// It stays in the installed directory: a rerun of the same install recognizes its work by it.
    public static let markerFile = "residency_restore_epoch"

    /// The restored server that holds the staged data of `shard`.
    public static func stagingName(_ shard: ShardID) -> String { "promote-" + shard.rawValue }

    /// Where a node's directory goes when a restore of `epoch` replaces it.
    public static func replacedName(_ server: String, epoch: Int64) -> String { "replaced-\(server)-e\(epoch)" }

    var restores: LocalNodeManager { ShardRestore.manager(beside: manager) }
    public var stagingDirectory: String { restores.dataDirectory(Self.stagingName(shard)) }

    /// Makes the staged directory `server`'s (which must be stopped) under `epoch`, and
    /// configures it as a primary whose synchronous standbys are `synchronousStandbyNames`.
    public func install(into server: String, epoch: Int64, synchronousStandbyNames: String) throws(VaultError) {
        let target = manager.dataDirectory(server)
        let staged = stagingDirectory
        let files = FileManager.default
        do {
            if files.fileExists(atPath: staged), Self.marker(staged) == nil {
                try manager.writeOwned(staged + "/" + Self.markerFile, "\(epoch)\n")
            }
            if files.fileExists(atPath: target), Self.marker(target) != epoch {
                guard files.fileExists(atPath: staged) else {
                    throw VaultError(.notFound, "nothing to install into \(server): no restored server is staged at \(staged) (run `residency backup restore --shard \(shard) --promote` again)")
                }
                let replaced = Self.replacedName(server, epoch: epoch)
                guard !restores.exists(replaced) else {
                    throw VaultError(.invalidInput, "\(restores.dataRoot)/\(replaced) exists while \(target) is not the restored data: remove one of them")
                }
                _ = try restores.makeServerFolder(replaced)
                try Self.rename(target, restores.dataDirectory(replaced))
            }
            if !files.fileExists(atPath: target) {
                guard files.fileExists(atPath: staged) else {
                    throw VaultError(.notFound, "nothing to install into \(server): no restored server is staged at \(staged)")
                }
                try Self.rename(staged, target)
            }
            guard Self.marker(target) == epoch else {
                throw VaultError(.invalidInput, "\(target) is not the data a restore of epoch \(epoch) installed")
            }
            try manager.setAutoConf(server, [
                "restore_command": nil, "recovery_target": nil, "recovery_target_time": nil, "recovery_target_action": nil,
                "recovery_target_timeline": nil, "recovery_init_sync_method": nil, "archive_mode": nil,
                "primary_conninfo": nil, "primary_slot_name": nil,
                "synchronous_standby_names": synchronousStandbyNames,
            ])
            for file in ["standby.signal", "recovery.signal", "postmaster.pid", "postmaster.opts"] { unlink(target + "/" + file) }
            WALPrefetch.remove(dataDirectory: target)
            let current = try redoSegment(target)
            try queueForArchive(target, current: current)
            pruneWAL(target, current: current)
            if restores.exists(Self.stagingName(shard)), !files.fileExists(atPath: staged) {
                try restores.remove(Self.stagingName(shard))
            }
        } catch let error as VaultError {
            throw error
        } catch let error as PostgresError {
            throw VaultError(.io, "install of the restored \(shard) into \(server): \(error.description)")
        } catch {
            throw VaultError(.io, "install of the restored \(shard) into \(server): \(error)")
        }
    }

    /// The epoch written into `directory`'s marker, if any.
    static func marker(_ directory: String) -> Int64? {
        (try? String(contentsOfFile: directory + "/" + markerFile, encoding: .utf8))
            .flatMap { Int64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    static func rename(_ from: String, _ to: String) throws(VaultError) {
        guard Glibc.rename(from, to) == 0 else {
            throw VaultError(.io, "cannot rename \(from) to \(to): \(String(cString: strerror(errno)))")
        }
        // The rename must survive a power loss before the next step builds on it.
        for folder in [(from as NSString).deletingLastPathComponent, (to as NSString).deletingLastPathComponent] {
            let fd = open(folder, O_RDONLY | O_DIRECTORY)
            if fd >= 0 {
                fsync(fd)
                close(fd)
            }
        }
    }

    /// The segment the stopped server at `directory` writes next: the one its last
    /// checkpoint's redo lies in (`pg_controldata`).
    func redoSegment(_ directory: String) throws(VaultError) -> String {
        do {
            let control = try CommandRunner.run([manager.binaries.path("pg_controldata"), "-D", directory], as: manager.user).text
            guard let line = control.split(separator: "\n").first(where: { $0.hasPrefix("Latest checkpoint's REDO WAL file:") }),
                  let file = line.split(separator: ":").last?.trimmingCharacters(in: .whitespaces), file.count == 24
            else { throw VaultError(.io, "pg_controldata of \(directory) names no REDO WAL file") }
            return file
        } catch let error as VaultError {
            throw error
        } catch {
            throw VaultError(.io, "pg_controldata of \(directory): \(error)")
        }
    }

    /// The restored server ran with `archive_mode=off`: its new timeline's history file and
    /// the segments it finished were never queued for the archive. Queues each (a `.ready`
    /// status file) so the installed primary archives them first and the archive stays
    /// continuous across the restore. Never `current`, the segment the server writes next, nor
    /// a recycled one after it: an unfinished segment in the archive would end a later
    /// recovery at its torn end, and PostgreSQL queues it itself once it is finished.
    func queueForArchive(_ directory: String, current: String) throws(VaultError) {
        let wal = directory + "/pg_wal"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: wal)) ?? []
        let timelines = names.compactMap { name -> String? in
            guard name.hasSuffix(".history"), name.count == 16 else { return nil }
            return String(name.prefix(8))
        }
        guard let timeline = timelines.max() else { return }
        let status = wal + "/archive_status"
        let files = FileManager.default
        for name in names where name == timeline + ".history" || (WALPrefetch.isSegment(name) && name.hasPrefix(timeline) && name < current) {
            guard !files.fileExists(atPath: "\(status)/\(name).done"), !files.fileExists(atPath: "\(status)/\(name).ready") else { continue }
            do {
                try manager.writeOwned("\(status)/\(name).ready", "")
            } catch {
                throw VaultError(.io, "cannot queue \(name) for the archive: \(error.description)")
            }
        }
    }

    /// Deletes the segments the installed primary will never read: those restored from the
    /// archive (`.done`: it holds them) and the recycled ones after `current`. Restored
    /// segments are written sparse (`SparseFileSink`); none is carried into the shard, where
    /// PostgreSQL would recycle it for new WAL expecting every block allocated.
    func pruneWAL(_ directory: String, current: String) {
        let wal = directory + "/pg_wal"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: wal)) ?? [] where WALPrefetch.isSegment(name) && name != current {
            let done = "\(wal)/archive_status/\(name).done"
            if name.dropFirst(8) > current.dropFirst(8) || access(done, F_OK) == 0 {
                unlink("\(wal)/\(name)")
                unlink(done)
            }
        }
    }
}
