import Foundation
import ResidencyCore
import ResidencyPostgres
#if canImport(Glibc)
import Glibc
#endif

/// The state directory of one topology (`--state`, `RESIDENCY_STATE`, default `.residency/`)
/// and what it records in `layout.json`: where the servers' data lives, who runs them,
/// and the control server's port.
///
/// Server data lives in `<state>/servers` when the server user can reach it. When the tool
/// runs as root and the state directory sits where `postgres` cannot enter (a clone under
/// `/root`), it lives in `/var/lib/residency/<hash of the state path>` instead, and
/// `layout.json` says so. Servers listen on 127.0.0.1 TCP only (no unix sockets), so the
/// 107-byte socket path limit never applies.
public struct StateDirectory: Sendable {
    public static let defaultPath = ".residency"
    public static let environmentVariable = "RESIDENCY_STATE"

    /// Absolute path.
    public let path: String

    /// `option`, else `$RESIDENCY_STATE`, else `.residency`, made absolute.
    public init(option: String?) {
        let given = option ?? ProcessInfo.processInfo.environment[Self.environmentVariable].flatMap { $0.isEmpty ? nil : $0 }
            ?? Self.defaultPath
        let absolute = given.hasPrefix("/") ? given : FileManager.default.currentDirectoryPath + "/" + given
        path = URL(fileURLWithPath: absolute).standardizedFileURL.path
    }

    public var layoutFile: String { path + "/layout.json" }

    /// What `up` decided when it first created the topology.
    public struct Layout: Codable, Sendable, Equatable {
        public var version = 1
        public var dataRoot: String
        public var serverUser: String
        public var controlPort: Int
        public var topologyDirectory: String

        enum CodingKeys: String, CodingKey {
            case version, dataRoot = "data_root", serverUser = "server_user", controlPort = "control_port"
            case topologyDirectory = "topology_directory"
        }

        public var passfile: String { dataRoot + "/pgpass" }
    }

    /// The recorded layout; `nil` when no topology was ever created here.
    public func layout() throws(RuntimeError) -> Layout? {
        guard FileManager.default.fileExists(atPath: layoutFile) else { return nil }
        do {
            return try JSONDecoder().decode(Layout.self, from: Data(contentsOf: URL(fileURLWithPath: layoutFile)))
        } catch {
            throw RuntimeError(.unavailable, "\(layoutFile) is unreadable (\(error)); remove the state directory to start over")
        }
    }

    /// The recorded layout, or an error saying that `up` has not been run here.
    public func requireLayout() throws(RuntimeError) -> Layout {
        guard let layout = try layout() else {
            throw RuntimeError(.unavailable, "no topology in \(path): run `residency up` first (or pass --state / set \(Self.environmentVariable))")
        }
        return layout
    }

    /// Creates the state directory and decides where server data goes; records it.
    public func createLayout(controlPort: Int, topologyDirectory: String, user: ServerUser) throws(RuntimeError) -> Layout {
        try makeDirectory(path, mode: 0o755)
        let local = path + "/servers"
        var dataRoot = local
        if user.switchesUser {
            try makeDirectory(local, mode: 0o700)
            do { try user.own(local) } catch { throw RuntimeError(.unavailable, error.description) }
            let reachable = (try? CommandRunner.launch(["/usr/sbin/runuser", "-u", user.name, "--", "/usr/bin/test", "-w", local]))?.status == 0
            if !reachable {
                try? FileManager.default.removeItem(atPath: local)
                dataRoot = "/var/lib/residency/" + Self.hash(path)
                try makeDirectory("/var/lib/residency", mode: 0o755)
                try makeDirectory(dataRoot, mode: 0o700)
                do { try user.own(dataRoot) } catch { throw RuntimeError(.unavailable, error.description) }
            }
        } else {
            try makeDirectory(local, mode: 0o700)
        }
        let layout = Layout(dataRoot: dataRoot, serverUser: user.name, controlPort: controlPort, topologyDirectory: topologyDirectory)
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try encoder.encode(layout).write(to: URL(fileURLWithPath: layoutFile), options: .atomic)
        } catch {
            throw RuntimeError(.unavailable, "cannot write \(layoutFile): \(error)")
        }
        return layout
    }

    /// Deletes the state directory and the server data it points to, except `keep`: paths
    /// (absolute) that stay with the folders leading to them (a vault whose objects are still
    /// retained).
    public func purge(_ layout: Layout?, keep: [String] = []) throws(RuntimeError) {
        do {
            var targets = [path]
            if let layout, !layout.dataRoot.hasPrefix(path + "/") { targets.insert(layout.dataRoot, at: 0) }
            for target in targets where FileManager.default.fileExists(atPath: target) {
                try Self.remove(target, keeping: keep)
            }
        } catch {
            throw RuntimeError(.unavailable, "cannot remove the topology's files: \(error)")
        }
    }

    /// Removes `target`, or, when it holds a kept path, everything in it but that path.
    private static func remove(_ target: String, keeping keep: [String]) throws {
        guard keep.contains(where: { $0 == target || $0.hasPrefix(target + "/") }) else {
            try FileManager.default.removeItem(atPath: target)
            return
        }
        if keep.contains(target) { return }
        for child in try FileManager.default.contentsOfDirectory(atPath: target) {
            try remove(target + "/" + child, keeping: keep)
        }
    }

    /// An exclusive lock on the state directory for the life of the returned value, so two
    /// commands never create or stop the same topology at once.
    public func lock() throws(RuntimeError) -> StateLock {
        try makeDirectory(path, mode: 0o755)
        return try StateLock(path: path + "/lock")
    }

    private func makeDirectory(_ directory: String, mode: Int) throws(RuntimeError) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: mode])
        } catch {
            throw RuntimeError(.unavailable, "cannot create \(directory): \(error.localizedDescription)")
        }
    }

    /// A short, stable name for a path.
    static func hash(_ text: String) -> String { Fingerprint.fnv1a(text) }
}

/// An exclusive `flock` held until deinit.
public final class StateLock {
    private let fd: Int32

    init(path: String) throws(RuntimeError) {
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw RuntimeError(.unavailable, "cannot open \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw RuntimeError(.unavailable, "another residency command is working on this topology (it holds \(path)); wait for it to finish")
        }
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
