import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where a region's sealed objects are kept: a directory in local mode; an object store
/// (S3 with Object Lock in compliance mode, say) can implement the same five operations.
/// Implementations never replace an object (`put` of an existing name fails with
/// `.retained`) and never delete one before its retain-until.
public protocol VaultStorage: Sendable {
    /// Where the objects are, for messages and the residency report.
    var location: String { get }
    /// Writes a new object through `write` and makes it durable before returning; fails with
    /// `.retained` when the name exists (the object already stored is left as it was).
    func put(_ name: String, _ write: (inout FileDescriptorStream) throws(VaultError) -> Void) throws(VaultError)
    /// Reads an object through `read`; `.notFound` when there is none.
    func get<R>(_ name: String, _ read: (inout FileDescriptorStream) throws(VaultError) -> R) throws(VaultError) -> R
    func exists(_ name: String) -> Bool
    /// Object names under `prefix` (a folder, `wal/s1/`), sorted, with their stored sizes.
    func list(prefix: String) throws(VaultError) -> [(name: String, bytes: Int64)]
    /// Deletes an object whose retain-until (read from its header) has passed at `now`.
    func delete(_ name: String, now: Date) throws(VaultError)
    /// Removes what writers that died left half-written (never an object); returns how many.
    func sweepAbandonedWrites() -> Int
}

extension VaultStorage {
    /// Refuses names that could leave the vault or hide in it: only `[A-Za-z0-9._-]`
    /// components, none empty or starting with a dot.
    public static func validate(name: String) throws(VaultError) {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        guard name.utf8.count <= 512, !parts.isEmpty,
              parts.allSatisfy({ !$0.isEmpty && !$0.hasPrefix(".") && $0.allSatisfy(allowed.contains) })
        else { throw VaultError(.invalidInput, "\(String(reflecting: name)) is not a vault object name") }
    }
}

/// A vault in a local directory: `<root>/objects/<name>`, written through
/// `<root>/incoming/`. An object is written to a temporary file, flushed (`fsync`), made
/// read-only (mode 0444), then `link`ed to its name — which fails if the name exists, so
/// nothing is ever overwritten, even by two writers racing — and its directory flushed.
/// Only then does `put` return: a segment reported archived is on disk.
public struct LocalVaultStorage: VaultStorage {
    public let root: String

    public init(root: String) {
        self.root = root
    }

    public var location: String { root }
    var objects: String { root + "/objects" }
    var incoming: String { root + "/incoming" }

    public func put(_ name: String, _ write: (inout FileDescriptorStream) throws(VaultError) -> Void) throws(VaultError) {
        try Self.validate(name: name)
        let final = objects + "/" + name
        let folder = (final as NSString).deletingLastPathComponent
        try Self.makeDirectories(folder)
        try Self.makeDirectories(incoming)
        if exists(name) { throw VaultError(.retained, "\(name) is already in the vault at \(root); a vault object is never replaced") }
        let temporary = incoming + "/\(getpid())-\(UInt64.random(in: 0...UInt64.max)).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw VaultError(.io, "cannot create \(temporary): \(Self.errorText())") }
        defer { unlink(temporary) }
        do throws(VaultError) {
            var stream = FileDescriptorStream(fd: fd, name: temporary)
            try write(&stream)
            guard fsync(fd) == 0, fchmod(fd, 0o444) == 0 else { throw VaultError(.io, "cannot flush \(temporary): \(Self.errorText())") }
        } catch {
            close(fd)
            throw error
        }
        close(fd)
        guard link(temporary, final) == 0 else {
            if errno == EEXIST { throw VaultError(.retained, "\(name) is already in the vault at \(root); a vault object is never replaced") }
            throw VaultError(.io, "cannot store \(final): \(Self.errorText())")
        }
        try Self.syncDirectory(folder)
    }

    public func get<R>(_ name: String, _ read: (inout FileDescriptorStream) throws(VaultError) -> R) throws(VaultError) -> R {
        try Self.validate(name: name)
        let path = objects + "/" + name
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { throw VaultError(.notFound, "\(name) is not in the vault at \(root)") }
            throw VaultError(.io, "cannot open \(path): \(Self.errorText())")
        }
        defer { close(fd) }
        var stream = FileDescriptorStream(fd: fd, name: path)
        return try read(&stream)
    }

    public func exists(_ name: String) -> Bool {
        access(objects + "/" + name, F_OK) == 0
    }

    public func list(prefix: String) throws(VaultError) -> [(name: String, bytes: Int64)] {
        let base = objects + "/" + prefix
        guard let enumerator = FileManager.default.enumerator(atPath: base) else { return [] }
        var found: [(String, Int64)] = []
        while let relative = enumerator.nextObject() as? String {
            var info = stat()
            let path = base + (base.hasSuffix("/") ? "" : "/") + relative
            guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { continue }
            found.append(((prefix.hasSuffix("/") || prefix.isEmpty ? prefix : prefix + "/") + relative, Int64(info.st_size)))
        }
        return found.sorted { $0.0 < $1.0 }
    }

    public func delete(_ name: String, now: Date) throws(VaultError) {
        let header = try get(name) { stream throws(VaultError) in try ObjectCodec.readHeader(&stream).header }
        let until = Date(timeIntervalSince1970: TimeInterval(header.retainUntil))
        guard now >= until else {
            throw VaultError(.retained, "\(name) is retained until \(until.formatted(.iso8601)); nothing deletes it before then")
        }
        let path = objects + "/" + name
        guard unlink(path) == 0 else { throw VaultError(.io, "cannot delete \(path): \(Self.errorText())") }
        try Self.syncDirectory((path as NSString).deletingLastPathComponent)
    }

    /// Temporary files of `incoming/` whose writer (the pid in their name) is gone: a
    /// `wal-push` or a base backup killed before its `link`. Never linked, so never an object.
    public func sweepAbandonedWrites() -> Int {
        var removed = 0
        for file in (try? FileManager.default.contentsOfDirectory(atPath: incoming)) ?? [] where file.hasSuffix(".tmp") {
            guard let pid = Int32(file.split(separator: "-").first ?? ""), pid > 0, kill(pid, 0) != 0, errno == ESRCH else { continue }
            if unlink(incoming + "/" + file) == 0 { removed += 1 }
        }
        return removed
    }

    static func makeDirectories(_ path: String) throws(VaultError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw VaultError(.io, "cannot create \(path): \(error.localizedDescription)")
        }
    }

    static func syncDirectory(_ path: String) throws(VaultError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw VaultError(.io, "cannot open \(path): \(errorText())") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw VaultError(.io, "cannot flush \(path): \(errorText())") }
    }

    static func errorText() -> String { String(cString: strerror(errno)) }
}
