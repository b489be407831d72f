import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Read-ahead for recovery (as WAL-G's prefetch). PostgreSQL asks `restore_command` for one
/// segment at a time and replays it before asking for the next, so a restore would otherwise
/// pay, for every segment in turn, a process start, a decryption and a decompression.
///
/// One prefetcher per recovering server (`wal-prefetch`, started detached by `wal-fetch`)
/// fetches the segments after the one asked for, in order, into
/// `<pg_wal>/.residency-prefetch/`: each authenticated and decompressed exactly as a direct
/// fetch, flushed to disk (PostgreSQL fsyncs every restored segment, and a clean file makes
/// that free), renamed when whole, at most `window` waiting. The
/// `restore_command` (`VaultLayout.restoreCommand`) first tries to rename the segment from
/// there with `mv`, which costs no start of this program; when that fails it runs `wal-fetch`,
/// which waits for the segment the prefetcher is fetching at that moment, or else stops the
/// prefetcher (recovery went elsewhere: another timeline), fetches the segment itself and
/// starts a new prefetcher after it.
///
/// Nothing here is needed for correctness: whatever is missing or stale is fetched directly,
/// and a prefetcher ends by itself (end of the archive, recovery over, nothing taken for
/// `idleLimit`, its folder gone). The folder is deleted once recovery is over.
public struct WALPrefetch: Sendable {
    public let archive: WALArchive
    /// `<pg_wal>/.residency-prefetch`.
    public let directory: String
    public let window: Int

    public static let folderName = ".residency-prefetch"
    /// How long `wal-fetch` waits for the segment the prefetcher is fetching.
    static let fetchingWait: Duration = .seconds(60)
    /// A prefetcher whose segments nobody takes for this long ends.
    static let idleLimit: Duration = .seconds(30)

    /// The read-ahead of a `wal-fetch` into `destination` (`%p`): the folder beside it.
    public init(archive: WALArchive, destination: String, window: Int = 8) {
        let folder = (destination as NSString).deletingLastPathComponent
        self.init(archive: archive, directory: (folder.isEmpty ? "" : folder + "/") + Self.folderName, window: window)
    }

    public init(archive: WALArchive, directory: String, window: Int = 8) {
        self.archive = archive
        self.directory = directory
        self.window = window
    }

    var pidFile: String { directory + "/prefetcher.pid" }
    /// The segment the prefetcher is fetching now.
    var fetchingFile: String { directory + "/fetching" }

    /// Whether PostgreSQL asked for a plain segment (history files and the like are never
    /// read ahead).
    public static func isSegment(_ file: String) -> Bool { file.utf8.count == 24 && file.allSatisfy(\.isHexDigit) }

    /// The segment after `file` on its timeline. With 16 MiB segments (PostgreSQL's default,
    /// and `up`'s) a 4 GiB log holds 256; with another size the names guessed here are never
    /// asked for, and cost nothing.
    static func next(after file: String) -> String? {
        guard isSegment(file), let log = UInt64(file.dropFirst(8).prefix(8), radix: 16), let segment = UInt64(file.suffix(8), radix: 16) else { return nil }
        let position = log * 256 + segment + 1
        return file.prefix(8) + String(format: "%08llX%08llX", position / 256, position % 256)
    }

    // MARK: wal-fetch's side

    /// `wal-fetch` of `file` into `destination`: from the folder when the prefetcher has it or
    /// is fetching it, else directly. Returns whether a new prefetcher should start after
    /// `file` (none runs, or the one running was stopped for going elsewhere).
    public func fetch(file: String, to destination: String) throws(VaultError) -> Bool {
        guard Self.isSegment(file) else {
            try archive.fetch(file: file, to: destination)
            return false
        }
        let ready = directory + "/" + file
        let deadline = ContinuousClock.now + Self.fetchingWait
        while true {
            if rename(ready, destination) == 0 { return prefetcherPID() == nil }
            guard prefetcherPID() != nil, currentlyFetching() == file, ContinuousClock.now < deadline else { break }
            usleep(2_000)
        }
        // Recovery asks for what the prefetcher is not on: it went elsewhere.
        stopPrefetcher()
        dropAll()
        try archive.fetch(file: file, to: destination)
        return true
    }

    /// The live prefetcher's pid, if one runs.
    func prefetcherPID() -> Int32? {
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
              let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0,
              kill(pid, 0) == 0 || errno == EPERM else { return nil }
        return pid
    }

    func currentlyFetching() -> String? {
        (try? String(contentsOfFile: fetchingFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Stops the prefetcher (started by an earlier `wal-fetch` of this recovery) and waits for
    /// it to be gone, 2 s at most.
    func stopPrefetcher() {
        guard let pid = prefetcherPID(), pid != getpid() else { return }
        kill(pid, SIGKILL)
        for _ in 0..<1_000 where kill(pid, 0) == 0 { usleep(2_000) }
        unlink(pidFile)
    }

    /// Deletes every segment the folder holds (and half-written ones).
    func dropAll() {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasPrefix("0") {
            unlink(directory + "/" + name)
        }
    }

    // MARK: the prefetcher

    /// The prefetcher's work: registers itself (or ends at once when another one runs), then
    /// fetches the segments after `file` in order while fewer than `window` wait, and ends at
    /// the end of the archive, when recovery is over, when nothing is taken for `idleLimit`,
    /// or on any error (the direct fetch then reports it).
    public func run(after file: String) {
        mkdir(directory, 0o700)
        guard Self.isSegment(file), register() else { return }
        defer {
            unlink(fetchingFile)
            unlink(pidFile)
        }
        // <data directory>/pg_wal/.residency-prefetch: recovery is over once recovery.signal is gone.
        let dataDirectory = ((directory as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
        let recoverySignal = (dataDirectory.isEmpty ? "" : dataDirectory + "/") + "recovery.signal"
        var name = file
        var lastProgress = ContinuousClock.now
        var waiting = -1
        while let next = Self.next(after: name) {
            name = next
            while true {
                guard access(recoverySignal, F_OK) == 0, access(directory, F_OK) == 0 else { return }
                let count = readyCount()
                if count != waiting {
                    waiting = count
                    lastProgress = ContinuousClock.now
                }
                if count < window { break }
                guard ContinuousClock.now - lastProgress < Self.idleLimit else { return }
                usleep(5_000)
            }
            guard (try? writeSmall(fetchingFile, name)) != nil else { return }
            do {
                try archive.fetch(file: name, to: directory + "/" + name, flush: true)
            } catch {
                return
            }
        }
    }

    /// Writes this process's pid as the prefetcher's, unless a live one is registered.
    func register() -> Bool {
        let own = "\(pidFile).\(getpid())"
        guard (try? writeSmall(own, "\(getpid())")) != nil else { return false }
        defer { unlink(own) }
        if link(own, pidFile) == 0 { return true }
        guard errno == EEXIST, prefetcherPID() == nil else { return false }
        unlink(pidFile)
        return link(own, pidFile) == 0
    }

    func readyCount() -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).count { $0.utf8.count == 24 }
    }

    func writeSmall(_ path: String, _ text: String) throws(VaultError) {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw VaultError(.io, "cannot write \(temporary)") }
        let line = text + "\n"
        _ = line.withCString { write(fd, $0, strlen($0)) }
        close(fd)
        guard rename(temporary, path) == 0 else { throw VaultError(.io, "cannot rename \(temporary)") }
    }

    /// Deletes the read-ahead folder of a data directory (after its recovery).
    public static func remove(dataDirectory: String) {
        try? FileManager.default.removeItem(atPath: dataDirectory + "/pg_wal/" + folderName)
    }
}
