import Foundation
import ResidencyCore
import ResidencyPostgres
import Synchronization

/// What a base backup holds and needs: sealed as `base/<shard>/<id>/manifest.json` beside
/// its data (`base.tar`). `verify` checks every object against the SHA-256 recorded here.
public struct BackupManifest: Codable, Sendable, Equatable {
    public struct Entry: Codable, Sendable, Equatable {
        public var name: String
        public var storedSHA256: String
        public var storedBytes: Int64
        public var plainBytes: Int64

        enum CodingKeys: String, CodingKey {
            case name, storedSHA256 = "stored_sha256", storedBytes = "stored_bytes", plainBytes = "plain_bytes"
        }
    }

    public var format = 1
    public var id: String
    public var shard: String
    public var region: String
    /// The shard's `initdb` identity: its WAL is under `wal/<shard>/<system identifier>/`.
    public var systemIdentifier: String
    /// The node it was read from.
    public var source: String
    public var startedAt: Double
    /// When the backup's stop point was written (it is consistent from then on).
    public var consistentAt: Double
    public var timeline: UInt32
    public var startLSN: String
    public var stopLSN: String
    public var objects: [Entry]
    /// The tenants whose data the shard held when the backup was taken.
    public var tenants: [String]
    public var retainUntil: Double

    enum CodingKeys: String, CodingKey {
        case format, id, shard, region, systemIdentifier = "system_identifier", source, startedAt = "started_at", consistentAt = "consistent_at", timeline
        case startLSN = "start_lsn", stopLSN = "stop_lsn", objects, tenants, retainUntil = "retain_until"
    }

    public static func prefix(shard: String) -> String { "base/\(shard)/" }
    public static func objectName(shard: String, id: String, file: String) -> String { "base/\(shard)/\(id)/\(file)" }
    public var manifestName: String { Self.objectName(shard: shard, id: id, file: "manifest.json") }
    /// The name `backup verify|restore` take: `<shard>/<id>`.
    public var qualifiedID: String { "\(shard)/\(id)" }

    public var facts: BackupFacts? {
        guard let start = LSN(startLSN), let stop = LSN(stopLSN), true else { return nil }
        return BackupFacts(id: id, shard: ShardID(shard), consistentAt: consistentAt, timeline: timeline, startLSN: start, stopLSN: stop)
    }

    public var storedBytes: Int64 { objects.reduce(0) { $0 + $1.storedBytes } }
    public var plainBytes: Int64 { objects.reduce(0) { $0 + $1.plainBytes } }
}

/// Base backups of a shard into its region's vault.
public struct BaseBackup: Sendable {
    public let vault: Vault
    public let shard: String
    public let retainDays: Int
    public let binaries: ServerBinaries

    public init(vault: Vault, shard: String, retainDays: Int, binaries: ServerBinaries) {
        self.vault = vault
        self.shard = shard
        self.retainDays = retainDays
        self.binaries = binaries
    }

    /// The shard's WAL archive of the cluster `systemIdentifier`.
    public func archive(_ systemIdentifier: String) -> WALArchive {
        WALArchive(vault: vault, shard: shard, systemIdentifier: systemIdentifier, retainDays: retainDays)
    }

    /// Every backup of the shard, oldest first, each manifest authenticated: a backup killed
    /// before its manifest was sealed is not one (its data object stays until retain-until).
    public func list() throws(VaultError) -> [BackupManifest] {
        var manifests: [BackupManifest] = []
        for (name, _) in try vault.storage.list(prefix: BackupManifest.prefix(shard: shard)) where name.hasSuffix("/manifest.json") {
            manifests.append(try manifest(name))
        }
        return manifests.sorted { ($0.consistentAt, $0.id) < ($1.consistentAt, $1.id) }
    }

    public func manifest(_ name: String) throws(VaultError) -> BackupManifest {
        var sink = MemoryStream()
        try vault.fetch(name, into: &sink)
        do {
            return try JSONDecoder().decode(BackupManifest.self, from: Data(sink.bytes))
        } catch {
            throw VaultError(.corrupt, "\(name) authenticates but is not a backup manifest: \(error)")
        }
    }

    /// Streams `pg_basebackup` of `source` (a standby when one is healthy; the replication
    /// role) into the vault, waits (at most `archiveTimeout`) until the WAL that makes it
    /// consistent is archived, then seals its manifest. `primary` is where the WAL switch
    /// that closes the stop segment is asked for.
    public func take(
        source: ConnectionSettings, sourceNode: String, primary: ConnectionSettings, tenants: [String],
        retainUntil: Date, archiveTimeout: Duration = .seconds(120), progress: (String) -> Void = { _ in },
        afterData: () -> Void = {}
    ) throws(VaultError) -> BackupManifest {
        let started = Date()
        var id = Self.identifier(started)
        while vault.storage.exists(BackupManifest.objectName(shard: shard, id: id, file: "base.tar")) { id += "x" }
        let tarName = BackupManifest.objectName(shard: shard, id: id, file: "base.tar")
        let stderrPath = FileManager.default.temporaryDirectory.appendingPathComponent("residency-basebackup-\(getpid())-\(id).log").path
        defer { unlink(stderrPath) }
        var settings = source
        settings.statementTimeoutMilliseconds = 0
        progress("base backup \(shard)/\(id): pg_basebackup from \(sourceNode) into \(vault.storage.location)")
        let child = try ChildProcess([
            binaries.path("pg_basebackup"), "--dbname", settings.connectionString, "--pgdata", "-", "--format", "tar",
            "--wal-method", "none", "--checkpoint", "fast", "--manifest-checksums", "NONE", "--verbose", "--no-password",
        ], pipe: .readStdout, stderrPath: stderrPath)
        // The server ends the backup only once its last segment is archived: the primary is
        // asked to finish that segment as soon as the server says it waits.
        let nudger = SegmentNudger(stderrPath: stderrPath, primary: primary)
        nudger.start()
        defer { nudger.stop() }
        var stream = TarScanner(child.stream, capturing: ["backup_manifest", "global/pg_control"])
        let summary: ObjectCodec.Summary
        do throws(VaultError) {
            summary = try vault.store(tarName, from: &stream, retainUntil: retainUntil)
        } catch {
            child.abandon()
            throw error
        }
        try child.finish()
        afterData()
        guard let manifestBytes = stream.captured["backup_manifest"], let range = Self.walRange(manifestBytes) else {
            throw VaultError(.io, "the base backup \(tarName) holds no backup_manifest with a WAL range; it cannot be restored and is not recorded")
        }
        guard let control = stream.captured["global/pg_control"], control.count >= 8 else {
            throw VaultError(.io, "the base backup \(tarName) holds no global/pg_control; it is not recorded")
        }
        let archive = archive(String(WALArchive.systemIdentifier(pgControl: control)))
        let consistentAt = Date()
        let facts = BackupFacts(id: id, shard: ShardID(shard), consistentAt: consistentAt.timeIntervalSince1970,
                                timeline: range.timeline, startLSN: range.start, stopLSN: range.stop)
        progress("base backup \(shard)/\(id): \(summary.plainBytes) bytes stored as \(summary.storedBytes); checking WAL up to \(facts.stopSegment) is archived")
        try closeSegment(facts.stopSegment, archive: archive, primary: primary, timeout: archiveTimeout)

        let manifest = BackupManifest(
            id: id, shard: shard, region: vault.region, systemIdentifier: archive.systemIdentifier, source: sourceNode,
            startedAt: started.timeIntervalSince1970, consistentAt: consistentAt.timeIntervalSince1970, timeline: range.timeline,
            startLSN: range.start.description, stopLSN: range.stop.description,
            objects: [.init(name: tarName, storedSHA256: summary.storedSHA256, storedBytes: summary.storedBytes, plainBytes: summary.plainBytes)],
            tenants: tenants.sorted(), retainUntil: retainUntil.timeIntervalSince1970.rounded(.up))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data: Data
        do { data = try encoder.encode(manifest) } catch { throw VaultError(.io, "cannot encode the manifest: \(error)") }
        var source = MemoryStream([UInt8](data))
        try vault.store(manifest.manifestName, from: &source, retainUntil: retainUntil)
        return manifest
    }

    /// Asks the primary to finish the current segment until `segment` is in the archive:
    /// a WAL record first (a switch on an empty segment does nothing), then a switch, again
    /// every few seconds, for at most `timeout`.
    public func closeSegment(_ segment: WALSegment, archive: WALArchive, primary: ConnectionSettings, timeout: Duration) throws(VaultError) {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while !vault.storage.exists(archive.objectName(segment.name)) {
            do {
                let connection = try Connection(primary)
                try connection.execute("SELECT pg_logical_emit_message(false, 'residency', 'wal switch for the archive')")
                try connection.execute("SELECT pg_switch_wal()")
            } catch {
                if clock.now >= deadline { throw VaultError(.io, "cannot switch WAL on the primary: \(error)") }
            }
            let remaining = deadline - clock.now
            guard remaining > .zero else {
                throw VaultError(.io, "WAL segment \(segment) of shard \(shard) was not archived within \(timeout); see the servers' logs for archive_command failures")
            }
            do {
                try archive.waitFor(segment, timeout: min(remaining, .seconds(5)))
            } catch where clock.now < deadline {}
        }
    }

    /// `20261202T134501Z`: sorts in time order, safe as a vault name.
    public static func identifier(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func two(_ value: Int?) -> String { String(format: "%02d", value ?? 0) }
        return "\(parts.year ?? 0)\(two(parts.month))\(two(parts.day))T\(two(parts.hour))\(two(parts.minute))\(two(parts.second))Z"
    }

    /// The WAL a backup needs, from the `WAL-Ranges` of PostgreSQL's `backup_manifest`:
    /// from the first range's start to the last range's end, on the last range's timeline.
    static func walRange(_ manifest: [UInt8]) -> (start: LSN, stop: LSN, timeline: UInt32)? {
        struct Manifest: Decodable {
            struct Range: Decodable {
                let timeline: UInt32
                let start: String
                let end: String
                enum CodingKeys: String, CodingKey { case timeline = "Timeline", start = "Start-LSN", end = "End-LSN" }
            }
            let ranges: [Range]
            enum CodingKeys: String, CodingKey { case ranges = "WAL-Ranges" }
        }
        guard let decoded = try? JSONDecoder().decode(Manifest.self, from: Data(manifest)),
              let first = decoded.ranges.first, let last = decoded.ranges.last,
              let start = LSN(first.start), let stop = LSN(last.end) else { return nil }
        return (start, stop, last.timeline)
    }
}

/// While a base backup runs: once the server reports it waits for its last WAL segment to
/// be archived, asks the primary to finish that segment (a record, then a switch), every
/// few seconds until the backup ends.
final class SegmentNudger: @unchecked Sendable {
    let stderrPath: String
    let primary: ConnectionSettings
    private let stopped = Mutex(false)

    init(stderrPath: String, primary: ConnectionSettings) {
        self.stderrPath = stderrPath
        self.primary = primary
    }

    func start() {
        let thread = Thread { [self] in
            var lastNudge = ContinuousClock.now - .seconds(60)
            while !stopped.withLock({ $0 }) {
                usleep(20_000)
                guard ContinuousClock.now - lastNudge >= .seconds(1),
                      let text = try? String(contentsOfFile: stderrPath, encoding: .utf8), text.contains("waiting for required WAL segments")
                else { continue }
                lastNudge = ContinuousClock.now
                if let connection = try? Connection(primary) {
                    _ = try? connection.execute("SELECT pg_logical_emit_message(false, 'residency', 'wal switch for a base backup')")
                    _ = try? connection.execute("SELECT pg_switch_wal()")
                }
            }
        }
        thread.start()
    }

    func stop() { stopped.withLock { $0 = true } }
}
