import Foundation
import ResidencyCore
import ResidencyPostgres
#if canImport(Glibc)
import Glibc
#endif

/// Point-in-time recovery of a shard's base backup into a new server beside the live ones:
/// `<data root>/restores/<name>/pgdata`, on its own port, never archiving (its new timeline
/// must not mix with the live shard's archive), never a member of the shard.
public struct ShardRestore: Sendable {
    public let layout: VaultLayout
    public let layoutPath: String
    public let backups: BaseBackup
    /// Manages servers under `<data root>/restores`.
    public let manager: LocalNodeManager

    public init(layout: VaultLayout, layoutPath: String, backups: BaseBackup, manager: LocalNodeManager) {
        self.layout = layout
        self.layoutPath = layoutPath
        self.backups = backups
        self.manager = manager
    }

    /// Where recovery stops.
    public enum Target: Sendable, Equatable {
        /// As soon as the backup is consistent (`verify`).
        case immediate
        /// Just after the last commit at or before this time.
        case time(Date)
        /// The end of the archive.
        case end

        var date: Date? {
            if case .time(let date) = self { return date }
            return nil
        }

        public var description: String {
            switch self {
            case .immediate: "the backup's consistency point"
            case .time(let date): ShardRestore.postgresTime(date)
            case .end: "the end of the archive"
            }
        }
    }

    public struct Restored: Sendable, Codable {
        public var server: String
        public var dataDirectory: String
        public var port: Int
        public var backup: String
        public var targetTime: Double?
        public var seconds: Double
    }

    /// Chooses the backup for `target` (the newest one consistent by then; `nil` = the end of
    /// the archive) and checks the archive has no gap after it.
    public func plan(target: Target) throws(VaultError) -> BackupManifest {
        let manifests = try backups.list()
        let facts = manifests.compactMap(\.facts)
        let targetSeconds = target.date?.timeIntervalSince1970 ?? Double.greatestFiniteMagnitude
        switch BackupPlanning.backup(for: targetSeconds, among: facts) {
        case .failure(let refusal):
            throw VaultError(.notFound, "shard \(backups.shard): \(refusal)")
        case .success(let chosen):
            let manifest = manifests.first { $0.id == chosen.id }!
            let segments = try backups.archive(manifest.systemIdentifier).segments()
            if let refusal = BackupPlanning.checkContinuity(from: chosen, archived: segments) {
                throw VaultError(.notFound, "shard \(backups.shard), backup \(chosen.id): \(refusal)")
            }
            return manifest
        }
    }

    /// Restores `manifest` into server `name` on `port` and recovers to `target` (or the end of
    /// the archive), then promotes it; waits for that at most `timeout`. A recovery that stops
    /// short (a missing or unreadable segment) leaves the server stopped and throws with its log.
    public func restore(
        _ manifest: BackupManifest, target: Target, name: String, port: Int, timeout: Duration, progress: (String) -> Void = { _ in }
    ) throws(VaultError) -> Restored {
        let clock = ContinuousClock()
        let began = clock.now
        do {
            try Self.ensureRootFolder(manager)
            if manager.runningPID(name) != nil { throw VaultError(.invalidInput, "a restored server \(name) is already running") }
            if FileManager.default.fileExists(atPath: manager.dataRoot + "/" + name) {
                throw VaultError(.invalidInput, "\(manager.dataRoot)/\(name) exists; remove it or choose another name")
            }
            try manager.makeServerFolder(name)
            let directory = manager.dataDirectory(name)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
            try manager.user.own(directory)
            for object in manifest.objects {
                progress("restoring \(object.name) (\(object.plainBytes) bytes) into \(directory)")
                let stderrPath = manager.dataRoot + "/" + name + "/tar.log"
                let child = try ChildProcess(manager.user.commandLine(["/usr/bin/tar", "--extract", "--file", "-", "--directory", directory]),
                                             pipe: .writeStdin, stderrPath: stderrPath)
                var sink = child.stream
                do throws(VaultError) {
                    try backups.vault.fetch(object.name, into: &sink)
                } catch {
                    child.abandon()
                    throw error
                }
                try child.finish()
            }
            for file in ["standby.signal", "postmaster.pid", "postmaster.opts"] { unlink(directory + "/" + file) }
            var settings: [String: String?] = [
                "restore_command": layout.restoreCommand(layoutPath: layoutPath, shard: manifest.shard, systemIdentifier: manifest.systemIdentifier),
                "recovery_target_action": "promote",
                "recovery_target_timeline": "latest",
                "archive_mode": "off",
                // One syncfs instead of an fsync per file of the data directory at startup.
                "recovery_init_sync_method": "syncfs",
                "primary_conninfo": nil,
                "primary_slot_name": nil,
                "synchronous_standby_names": nil,
                "recovery_target_time": nil,
            ]
            settings.updateValue(nil, forKey: "recovery_target")
            switch target {
            case .immediate: settings["recovery_target"] = "immediate"
            case .time(let date): settings["recovery_target_time"] = Self.postgresTime(date)
            case .end: break
            }
            try manager.setAutoConf(name, settings)
            try manager.writeOwned(directory + "/recovery.signal", "")
            progress("starting the restored server \(name) on port \(port): recovery to \(target.description)")
            try manager.start(name, port: port, clusterName: "restore-" + name)
            try waitForPromotion(name, port: port, deadline: began + timeout)
            WALPrefetch.remove(dataDirectory: directory)
        } catch let error as VaultError {
            throw error
        } catch let error as PostgresError {
            _ = try? manager.stop(name)
            throw VaultError(.io, "restore of \(manifest.qualifiedID) into \(name): \(error.description)")
        } catch {
            throw VaultError(.io, "restore of \(manifest.qualifiedID) into \(name): \(error)")
        }
        let elapsed = clock.now - began
        return Restored(server: name, dataDirectory: manager.dataDirectory(name), port: port, backup: manifest.qualifiedID,
                        targetTime: target.date?.timeIntervalSince1970,
                        seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }

    /// Waits until the restored server has left recovery; if it dies first (recovery ended
    /// short of the target, a segment failed to authenticate), its log says why.
    func waitForPromotion(_ name: String, port: Int, deadline: ContinuousClock.Instant) throws(VaultError) {
        var settings = ConnectionSettings(port: port, database: "postgres", user: LocalNodeManager.superuser, passfile: manager.passfile)
        settings.connectTimeoutSeconds = 2
        while true {
            guard manager.runningPID(name) != nil else {
                throw VaultError(.notFound, "the restored server \(name) stopped during recovery; its log (\(manager.logFile(name))) ends with:\n\(logTail(name))")
            }
            if let connection = try? Connection(settings), let value = try? connection.query("SELECT pg_is_in_recovery()").scalar, value == "f" {
                return
            }
            guard ContinuousClock.now < deadline else {
                _ = try? manager.stop(name)
                throw VaultError(.io, "the restored server \(name) did not finish recovery in time (stopped); its log ends with:\n\(logTail(name))")
            }
            usleep(100_000)
        }
    }

    func logTail(_ name: String) -> String {
        let text = (try? String(contentsOfFile: manager.logFile(name), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(10).joined(separator: "\n")
    }

    /// Stops a restored server and deletes its files.
    public func discard(_ name: String) throws(VaultError) {
        do {
            try manager.stop(name)
            try manager.remove(name)
        } catch {
            throw VaultError(.io, "cannot remove the restored server \(name): \(error.description)")
        }
    }

    /// The manager of the restored servers of a topology whose servers `manager` runs:
    /// `<data root>/restores/<name>`.
    public static func manager(beside manager: LocalNodeManager) -> LocalNodeManager {
        LocalNodeManager(binaries: manager.binaries, user: manager.user, dataRoot: manager.dataRoot + "/restores", passfile: manager.passfile)
    }

    /// `<data root>/restores` must be the server user's, or it could not enter its own folder.
    static func ensureRootFolder(_ manager: LocalNodeManager) throws(VaultError) {
        do {
            try FileManager.default.createDirectory(atPath: manager.dataRoot, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try manager.user.own(manager.dataRoot)
        } catch let error as PostgresError {
            throw VaultError(.io, error.description)
        } catch {
            throw VaultError(.io, "cannot create \(manager.dataRoot): \(error)")
        }
    }

    /// `2026-12-02 13:45:01.123456+00`: microseconds, UTC, as `recovery_target_time` reads it.
    public static func postgresTime(_ date: Date) -> String {
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded(.down))
        let seconds = micros / 1_000_000
        let fraction = micros % 1_000_000
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: Date(timeIntervalSince1970: Double(seconds)))
        return String(format: "%04d-%02d-%02d %02d:%02d:%02d.%06d+00", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0,
                      parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0, Int(fraction))
    }

    /// A free loopback port for a restored server (the kernel's choice).
    public static func freePort() throws(VaultError) -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw VaultError(.io, "socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw VaultError(.io, "cannot find a free port: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
