import ArgumentParser
import Foundation
import ResidencyPostgres
import ResidencyVault
#if canImport(Glibc)
import Glibc
#endif

/// The options both WAL commands take: where the vault layout is and whose archive it is.
struct WALArchiveOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The vault layout that `residency up` wrote (<data root>/vault.json).", valueName: "file"))
    var config: String
    @Option(help: ArgumentHelp("The shard whose archive this is.", valueName: "shard"))
    var shard: String
    @Option(name: .customLong("system-id"), help: ArgumentHelp(
        "The cluster's system identifier (pg_control_system()). Default: read from global/pg_control in the working directory, which is the data directory when PostgreSQL runs the command.",
        valueName: "id"))
    var systemID: String?
    @Option(name: .customLong("key-file"), help: ArgumentHelp("A key of your own (64 hex digits, mode 0600) instead of the region's.", valueName: "file"))
    var keyFile: String?

    func archive() throws(VaultError) -> WALArchive {
        let layout = try VaultLayout.load(config)
        let system: String
        if let systemID {
            guard !systemID.isEmpty, systemID.allSatisfy(\.isASCII), UInt64(systemID) != nil else {
                throw VaultError(.invalidInput, "--system-id \(String(reflecting: systemID)) is not a system identifier (a decimal number)")
            }
            system = systemID
        } else {
            system = try WALArchive.systemIdentifier(dataDirectory: FileManager.default.currentDirectoryPath)
        }
        return WALArchive(vault: try layout.vault(shard: shard, keyFile: keyFile), shard: shard, systemIdentifier: system, retainDays: layout.retainDays)
    }
}

struct WALPushCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wal-push",
        abstract: "Archive one WAL file into the shard's vault (PostgreSQL's archive_command).",
        discussion: """
            `up` sets archive_command on every member of a shard to this command with %p. It exits 0 \
            only once the file is durable in the vault (flushed, read-only, linked under its name); \
            then PostgreSQL may recycle it. A file the vault already holds with the same content \
            exits 0 too (every member archives, so each segment arrives up to three times). Any \
            failure exits non-zero and PostgreSQL retries the file later, keeping it until then.
            """)

    @OptionGroup var options: WALArchiveOptions
    @Argument(help: ArgumentHelp("The WAL file (%p: relative to the data directory).", valueName: "path"))
    var path: String

    func run() throws {
        do {
            let outcome = try options.archive().push(path: path)
            if case .keptBeside(let name) = outcome {
                Terminal.error("warning: \(path) differs from the copy already archived under its name; kept as \(name)")
            }
        } catch {
            throw Failure(message: "wal-push \(path): \(error.message)", exitCode: error.kind == .invalidInput ? Failure.invalidInput : Failure.unavailable)
        }
    }
}

struct WALFetchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wal-fetch",
        abstract: "Restore one WAL file from the shard's vault (PostgreSQL's restore_command).",
        discussion: """
            Exit codes, as PostgreSQL reads them (and as WAL-G's): 0 restored; 74 not in the archive \
            (PostgreSQL takes that as the end of the archive); 126 anything else (a file that does not \
            authenticate, a wrong key, an unreadable vault): PostgreSQL stops recovery on an exit status \
            above 125 instead of treating the failure as the end of the archive and ending recovery early.
            """)

    static let notFound: Int32 = 74
    static let stopRecovery: Int32 = 126

    @OptionGroup var options: WALArchiveOptions
    @Argument(help: ArgumentHelp("The file PostgreSQL asks for (%f).", valueName: "file"))
    var file: String
    @Argument(help: ArgumentHelp("Where to put it (%p).", valueName: "path"))
    var path: String

    @Flag(help: "Do not read the following segments ahead.") var noPrefetch = false

    func run() throws {
        let prefetch: WALPrefetch
        let startPrefetcher: Bool
        do {
            let archive = try options.archive()
            prefetch = WALPrefetch(archive: archive, destination: path)
            if noPrefetch {
                try archive.fetch(file: file, to: path)
                return
            }
            startPrefetcher = try prefetch.fetch(file: file, to: path)
        } catch {
            throw Failure(message: "wal-fetch \(file): \(error.message)", exitCode: error.kind == .notFound ? Self.notFound : Self.stopRecovery)
        }
        guard startPrefetcher, WALPrefetch.isSegment(file) else { return }
        // Detached, so PostgreSQL replays this segment while the next ones are fetched; a
        // failure to start one only costs speed.
        var arguments = [Self.executable, "wal-prefetch", "--config", options.config, "--shard", options.shard,
                         "--system-id", prefetch.archive.systemIdentifier, "--into", prefetch.directory, "--after", file]
        if let keyFile = options.keyFile { arguments += ["--key-file", keyFile] }
        _ = try? CommandRunner.spawnDetached(arguments, logFile: "/dev/null")
    }

    /// This program (the copy `up` installed for the servers).
    static var executable: String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        return count > 0 ? String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self) : CommandLine.arguments[0]
    }
}

/// `wal-fetch`'s read-ahead, started by it (hidden: not for operators).
struct WALPrefetchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wal-prefetch", abstract: "Fetch WAL segments ahead of recovery (started by wal-fetch).", shouldDisplay: false)

    @OptionGroup var options: WALArchiveOptions
    @Option(help: ArgumentHelp("The read-ahead folder.", valueName: "folder")) var into: String
    @Option(help: ArgumentHelp("The segment recovery took last: fetching starts after it.", valueName: "segment")) var after: String

    func run() throws {
        Self.closeInheritedChannels()
        guard let archive = try? options.archive() else { return }
        WALPrefetch(archive: archive, directory: into).run(after: after)
    }

    /// Closes the sockets and pipes inherited from PostgreSQL's recovery process: a
    /// prefetcher must never keep one of the server's channels open.
    static func closeInheritedChannels() {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return }
        for fd in names.compactMap({ Int32($0) }) where fd > 2 {
            var info = stat()
            guard fstat(fd, &info) == 0 else { continue }
            let type = info.st_mode & S_IFMT
            if type == S_IFSOCK || type == S_IFIFO { close(fd) }
        }
    }
}
