import Foundation
import ResidencyCore
#if canImport(Glibc)
import Glibc
#endif

/// A shard's continuous WAL archive: `wal/<shard>/<system identifier>/<file>` in its
/// region's vault. The system identifier (from `initdb`, shared by a shard's members and
/// by servers restored from its backups) keeps a shard created again under the same name
/// from mixing its segments with the old one's.
///
/// Every member of a shard archives (`archive_mode = always`), so the archive stays
/// continuous across failovers: the segments a dead primary had not archived yet were
/// streamed to the standbys, which archive them too. The same file archived twice is
/// recognised by its keyed content digest and accepted once; `push` returns only when the
/// object is durable in the vault, so PostgreSQL never recycles a segment the vault does not
/// hold.
public struct WALArchive: Sendable {
    public let vault: Vault
    public let shard: String
    /// `pg_control_system().system_identifier`, decimal.
    public let systemIdentifier: String
    public let retainDays: Int

    public init(vault: Vault, shard: String, systemIdentifier: String, retainDays: Int) {
        self.vault = vault
        self.shard = shard
        self.systemIdentifier = systemIdentifier
        self.retainDays = retainDays
    }

    public var prefix: String { "wal/\(shard)/\(systemIdentifier)/" }

    /// The system identifier of the data directory `directory` (the first eight bytes of
    /// `global/pg_control`, little-endian), as `archive_command` finds it in its working
    /// directory.
    public static func systemIdentifier(dataDirectory directory: String) throws(VaultError) -> String {
        guard let handle = FileHandle(forReadingAtPath: directory + "/global/pg_control"),
              let bytes = try? handle.read(upToCount: 8), bytes.count == 8 else {
            throw VaultError(.io, "cannot read the system identifier from \(directory)/global/pg_control")
        }
        return String(systemIdentifier(pgControl: [UInt8](bytes)))
    }

    static func systemIdentifier(pgControl bytes: [UInt8]) -> UInt64 {
        bytes.prefix(8).enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
    }

    public func objectName(_ file: String) -> String { prefix + file }

    public enum PushOutcome: Equatable, Sendable {
        /// Stored now.
        case stored
        /// The vault already held these exact bytes under this name.
        case alreadyArchived
        /// The vault held other bytes under this name (a switched segment's unused tail
        /// differs between members); this copy is kept beside it as `name`.
        case keptBeside(String)
    }

    /// Archives the file at `path` (PostgreSQL's `%p`, relative to the data directory).
    public func push(path: String, now: Date = Date()) throws(VaultError) -> PushOutcome {
        let file = (path as NSString).lastPathComponent
        try LocalVaultStorage.validate(name: objectName(file))
        guard let data = FileManager.default.contents(atPath: path) else {
            throw VaultError(.io, "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        let bytes = [UInt8](data)
        let mac = bytes.withUnsafeBytes { vault.contentMAC($0) }
        let retainUntil = now.addingTimeInterval(Double(max(retainDays, 1)) * 86_400)
        let name = objectName(file)
        for attempt in 0..<2 {
            if vault.storage.exists(name) {
                let existing = try vault.header(name)
                if existing.contentMAC == mac { return .alreadyArchived }
                let beside = name + ".conflict-" + mac.prefix(16)
                if vault.storage.exists(beside) { return .keptBeside(beside) }
                var source = MemoryStream(bytes)
                do throws(VaultError) {
                    try vault.store(beside, from: &source, retainUntil: retainUntil, contentMAC: mac, now: now)
                } catch where error.kind == .retained {}
                return .keptBeside(beside)
            }
            var source = MemoryStream(bytes)
            do throws(VaultError) {
                try vault.store(name, from: &source, retainUntil: retainUntil, contentMAC: mac, now: now)
                return .stored
            } catch where error.kind == .retained && attempt == 0 {
                // Another member stored it between the check and the link: compare with theirs.
                continue
            }
        }
        throw VaultError(.io, "\(name) appeared and vanished while it was being archived")
    }

    /// Restores `file` (PostgreSQL's `%f`) to `destination` (`%p`): written beside it, then
    /// renamed, so recovery never reads half a segment. `.notFound` when the archive does
    /// not have it (the end of the archive, for PostgreSQL). With `flush`, the file is on disk
    /// before it is renamed: PostgreSQL fsyncs every segment it restores, and a segment
    /// flushed ahead of time (by the prefetcher) makes that fsync cost nothing.
    public func fetch(file: String, to destination: String, flush: Bool = false) throws(VaultError) {
        let name = objectName(file)
        try LocalVaultStorage.validate(name: name)
        guard vault.storage.exists(name) else { throw VaultError(.notFound, "\(name) is not in the vault at \(vault.storage.location)") }
        let temporary = destination + ".residency-partial"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw VaultError(.io, "cannot create \(temporary): \(String(cString: strerror(errno)))") }
        do throws(VaultError) {
            // Sparse: a segment closed early by a switch is mostly zeros, and PostgreSQL
            // fsyncs every segment it restores. Not flushed by default: PostgreSQL flushes
            // what it keeps, and fetches again after a crash.
            var sink = SparseFileSink(fd: fd, name: temporary)
            try vault.fetch(name, into: &sink)
            try sink.finish()
            if flush, fdatasync(fd) != 0 { throw VaultError(.io, "cannot flush \(temporary): \(String(cString: strerror(errno)))") }
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        close(fd)
        guard rename(temporary, destination) == 0 else {
            unlink(temporary)
            throw VaultError(.io, "cannot rename \(temporary) to \(destination): \(String(cString: strerror(errno)))")
        }
    }

    /// Every plain segment the archive holds, in order.
    public func segments() throws(VaultError) -> [WALSegment] {
        try vault.storage.list(prefix: prefix).compactMap { WALSegment(name: String($0.name.dropFirst(prefix.count))) }.sorted()
    }

    /// Waits until `segment` is archived, for at most `timeout`; the error says which
    /// segment and for how long.
    public func waitFor(_ segment: WALSegment, timeout: Duration) throws(VaultError) {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while !vault.storage.exists(objectName(segment.name)) {
            guard clock.now < deadline else {
                throw VaultError(.io, "WAL segment \(segment) of shard \(shard) was not archived within \(timeout); see the servers' logs for archive_command failures")
            }
            usleep(50_000)
        }
    }
}
