import Foundation
import ResidencyCore
import ResidencyPostgres
import ResidencyVault

/// The `backup` commands against a local topology: base backups of a shard from its
/// healthiest standby, their list, verification (every object against its manifest, then a
/// restore into a scratch server) and point-in-time restore beside the live servers.
public struct BackupService {
    public let layout: StateDirectory.Layout
    public let vaultLayout: VaultLayout
    public let control: ControlStore
    public let data: DataNodes
    public let binaries: ServerBinaries
    public let user: ServerUser
    /// A key file of the customer's own, used instead of the region's.
    public let keyFile: String?

    public init(state: StateDirectory, keyFile: String? = nil) throws(RuntimeError) {
        layout = try state.requireLayout()
        vaultLayout = try VaultSetup.load(layout)
        control = try ControlStore(layout: layout)
        data = DataNodes(layout: layout)
        do {
            binaries = try ServerBinaries.locate()
            user = try ServerUser.current()
        } catch {
            throw RuntimeError(.unavailable, error.description)
        }
        self.keyFile = keyFile
    }

    public var layoutPath: String { VaultLayout.path(dataRoot: layout.dataRoot) }

    /// The topology's servers.
    var servers: LocalNodeManager { LocalNodeManager(binaries: binaries, user: user, dataRoot: layout.dataRoot, passfile: layout.passfile) }

    /// The restored servers beside the topology's.
    var restores: LocalNodeManager { ShardRestore.manager(beside: servers) }

    public func backups(of shard: ShardID) throws(RuntimeError) -> BaseBackup {
        let vault = try Self.vault { () throws(VaultError) in try vaultLayout.vault(shard: shard.rawValue, keyFile: keyFile) }
        return BaseBackup(vault: vault, shard: shard.rawValue, retainDays: vaultLayout.retainDays, binaries: binaries)
    }

    public func shardRecord(_ shard: ShardID) throws(RuntimeError) -> ControlStore.ShardRecord {
        guard let record = try control.shards().first(where: { $0.shard == shard }) else {
            let known = try control.shards().map(\.shard.rawValue).joined(separator: ", ")
            throw RuntimeError(.invalidInput, "no shard \(String(reflecting: shard.rawValue)) (shards: \(known))")
        }
        return record
    }

    // MARK: take

    /// A base backup of `shard` now: read from the least lagging healthy standby (the
    /// primary when none is), kept for the topology's retention.
    public func take(_ shard: ShardID, progress: (String) -> Void = { _ in }) throws(RuntimeError) -> BackupManifest {
        let record = try shardRecord(shard)
        let nodes = try control.nodes().filter { $0.node.shard == shard }
        guard let primary = nodes.first(where: { $0.node == record.primary }) else {
            throw RuntimeError(.unavailable, "shard \(shard): its primary \(record.primary) is not in the control store")
        }
        let candidates = nodes.map { candidate(for: $0, isPrimary: $0.node == record.primary, primaryPort: primary.port) }
        guard let sourceNode = BackupPlanning.source(among: candidates), let source = nodes.first(where: { $0.node == sourceNode }) else {
            throw RuntimeError(.unavailable, "shard \(shard): no member is reachable to take a base backup from")
        }
        let tenants = try control.tenants().filter { $0.shard == shard || $0.appShards.values.contains(shard) }.map(\.id.rawValue)
        let backups = try backups(of: shard)
        let retainUntil = Date().addingTimeInterval(Double(vaultLayout.retainDays) * 86_400)
        return try Self.vault { () throws(VaultError) in
            try backups.take(source: data.settings(port: source.port, role: .replication), sourceNode: sourceNode.description,
                             primary: data.settings(port: primary.port, database: "postgres"), tenants: tenants,
                             retainUntil: retainUntil, progress: progress, afterData: { CrashPoint.reach("backup.after-data") })
        }
    }

    /// A member's health for choosing a backup source: a standby must be in recovery and
    /// streaming; its lag is how far its replay is behind the primary's WAL.
    func candidate(for node: ControlStore.NodeRecord, isPrimary: Bool, primaryPort: Int) -> BackupPlanning.SourceCandidate {
        let unhealthy = BackupPlanning.SourceCandidate(node: node.node, isPrimary: isPrimary, healthy: false, lagBytes: .max)
        var settings = data.settings(port: node.port, database: "postgres", connectTimeoutSeconds: 2)
        settings.statementTimeoutMilliseconds = 2_000
        guard let connection = try? Connection(settings) else { return unhealthy }
        if isPrimary {
            let inRecovery = try? connection.query("SELECT pg_is_in_recovery()").scalar
            return BackupPlanning.SourceCandidate(node: node.node, isPrimary: true, healthy: inRecovery == "f", lagBytes: 0)
        }
        guard let row = try? connection.query("""
            SELECT pg_is_in_recovery(), (SELECT status FROM pg_stat_wal_receiver), pg_last_wal_replay_lsn()::text
            """).rows.first, row[0] == "t", row[1] == "streaming",
              let replay = row[2].flatMap(LSN.init)
        else { return unhealthy }
        var primarySettings = data.settings(port: primaryPort, database: "postgres", connectTimeoutSeconds: 2)
        primarySettings.statementTimeoutMilliseconds = 2_000
        let current = (try? Connection(primarySettings).query("SELECT pg_current_wal_lsn()::text").scalar).flatMap { $0.flatMap(LSN.init) }
        let lag = current.map { $0.value > replay.value ? $0.value - replay.value : 0 } ?? UInt64(Int64.max)
        return BackupPlanning.SourceCandidate(node: node.node, isPrimary: false, healthy: true, lagBytes: lag)
    }

    // MARK: list

    public func list(shard: ShardID?) throws(RuntimeError) -> [BackupManifest] {
        var shards = try control.shards().map(\.shard)
        if let shard { shards = [try shardRecord(shard).shard] }
        var all: [BackupManifest] = []
        for shard in shards {
            let backups = try backups(of: shard)
            all += try Self.vault { () throws(VaultError) in try backups.list() }
        }
        return all
    }

    /// `<shard>/<id>` → its manifest.
    public func manifest(_ qualifiedID: String) throws(RuntimeError) -> BackupManifest {
        let parts = qualifiedID.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2, Identifier<ShardKind>.isWellFormed(parts[0]), !parts[1].isEmpty else {
            throw RuntimeError(.invalidInput, "\(String(reflecting: qualifiedID)) is not a backup id: write <shard>/<id>, as `residency backup list` shows")
        }
        let shard = try shardRecord(ShardID(parts[0])).shard
        let backups = try backups(of: shard)
        guard let manifest = try Self.vault({ () throws(VaultError) in try backups.list() }).first(where: { $0.id == parts[1] }) else {
            throw RuntimeError(.invalidInput, "no backup \(qualifiedID) in the vault of shard \(shard)")
        }
        return manifest
    }

    // MARK: verify

    public struct Verification: Sendable, Codable {
        public struct Object: Sendable, Codable {
            public var name: String
            public var ok: Bool
            public var problem: String?
        }

        public var backup: String
        public var objects: [Object]
        /// The restore into a scratch server: its seconds, or why it failed; `nil` when skipped.
        public var restoreSeconds: Double?
        public var restoreProblem: String?
        public var ok: Bool { objects.allSatisfy(\.ok) && restoreProblem == nil }
    }

    /// Decrypts, decompresses and checks every object of a backup against its manifest;
    /// then, unless `restore` is false, restores it into a scratch server to its consistency
    /// point and removes that server again.
    public func verify(_ qualifiedID: String, restore: Bool = true, progress: (String) -> Void = { _ in }) throws(RuntimeError) -> Verification {
        let manifest = try manifest(qualifiedID)
        let backups = try backups(of: ShardID(manifest.shard))
        var result = Verification(backup: qualifiedID, objects: [])
        for entry in manifest.objects {
            progress("checking \(entry.name)")
            do {
                let checked = try backups.vault.verify(entry.name)
                var problem: String?
                if checked.storedSHA256 != entry.storedSHA256 { problem = "stored SHA-256 \(checked.storedSHA256) is not the manifest's \(entry.storedSHA256)" }
                if checked.plainBytes != entry.plainBytes { problem = "holds \(checked.plainBytes) bytes, the manifest says \(entry.plainBytes)" }
                if checked.header.region != manifest.region { problem = "was sealed for region \(checked.header.region), not \(manifest.region)" }
                result.objects.append(.init(name: entry.name, ok: problem == nil, problem: problem))
            } catch {
                result.objects.append(.init(name: entry.name, ok: false, problem: error.message))
            }
        }
        guard restore, result.objects.allSatisfy(\.ok) else { return result }
        let restorer = restorer(backups)
        let name = "verify-\(manifest.shard)-\(manifest.id)-\(getpid())"
        do {
            let port = try ShardRestore.freePort()
            let restored = try restorer.restore(manifest, target: .immediate, name: name, port: port, timeout: .seconds(600), progress: progress)
            result.restoreSeconds = restored.seconds
        } catch {
            result.restoreProblem = error.message
        }
        _ = try? restorer.discard(name)
        return result
    }

    // MARK: restore

    func restorer(_ backups: BaseBackup) -> ShardRestore {
        ShardRestore(layout: vaultLayout, layoutPath: layoutPath, backups: backups,
                     manager: restores)
    }

    /// Point-in-time recovery of `shard` to `target` into a new server beside the live
    /// ones. For a time target, the live primary first writes a commit after it and closes
    /// its segment, so that recovery finds its stop point in the archive.
    public func restore(
        _ shard: ShardID, target: ShardRestore.Target, port: Int?, timeout: Duration = .seconds(900), namePrefix: String? = nil,
        name fixedName: String? = nil, progress: (String) -> Void = { _ in }
    ) throws(RuntimeError) -> ShardRestore.Restored {
        let record = try shardRecord(shard)
        let backups = try backups(of: shard)
        if case .time(let date) = target, date > Date() {
            throw RuntimeError(.invalidInput, "--to-time \(ShardRestore.postgresTime(date)) is in the future")
        }
        try sealArchive(shard, primary: record.primary, backups: backups)
        let restorer = restorer(backups)
        let name = fixedName ?? "\(namePrefix ?? shard.rawValue)-\(Int64(Date().timeIntervalSince1970))"
        return try Self.vault { () throws(VaultError) in
            let manifest = try restorer.plan(target: target)
            progress("restoring shard \(shard) from base backup \(manifest.qualifiedID) to \(target.description)")
            let chosenPort: Int
            if let port { chosenPort = port } else { chosenPort = try ShardRestore.freePort() }
            return try restorer.restore(manifest, target: target, name: name, port: chosenPort, timeout: timeout, progress: progress)
        }
    }

    // MARK: restore --promote

    /// What `backup restore --promote` hands to the coordinator.
    public struct Promotion: Sendable {
        public var restored: ShardRestore.Restored
        /// The node that becomes the shard's primary.
        public var node: NodeID
        /// The request for the coordinator: `restore`, or `forced-restore`.
        public var requestKind: CoordinatorDriver.Request.Kind
    }

    /// The checks of `backup restore --promote` that need no restore: a coordinator leads,
    /// no operation runs on the shard, nothing is staged yet, and (unless `force`) the
    /// shard's primary does not answer. Returns the node that becomes primary (`zone`, or
    /// the current primary's). Throws `.invalidInput` for a refusal the operator can fix.
    public func checkPromotion(_ shard: ShardID, zone: ZoneID?, force: Bool) throws(RuntimeError) -> NodeID {
        let record = try shardRecord(shard)
        let members = try control.nodes().filter { $0.node.shard == shard }
        let node = NodeID(shard: shard, zone: zone ?? record.primary.zone)
        guard let primary = members.first(where: { $0.node == record.primary }), members.contains(where: { $0.node == node }) else {
            throw RuntimeError(.invalidInput, "zone \(node.zone) holds no node of \(shard) (its zones: \(members.map(\.node.zone.rawValue).joined(separator: ", ")))")
        }
        guard try control.leaseHolder() != nil else {
            throw RuntimeError(.unavailable, "no coordinator holds the lease: --promote is carried out by the coordinator (start one: residency up, or residency coordinator)")
        }
        if let open = try control.openOperations().first(where: { $0.shard == shard }) {
            throw RuntimeError(.invalidInput, "a \(open.kind.rawValue) of \(shard) is in progress (step \(open.step.rawValue)); see `residency events`")
        }
        let promotion = RestorePromotion(manager: servers, shard: shard)
        if FileManager.default.fileExists(atPath: restores.dataRoot + "/" + RestorePromotion.stagingName(shard)) {
            throw RuntimeError(.invalidInput, "a restore of \(shard) is already staged at \(promotion.stagingDirectory) and no coordinator is installing it: remove it with `residency backup discard \(RestorePromotion.stagingName(shard))`, then run again")
        }
        if !force {
            var settings = data.settings(port: primary.port, database: "postgres")
            settings.connectTimeoutSeconds = 2
            if let connection = try? Connection(settings), (try? connection.query("SELECT 1").scalar) == "1" {
                throw RuntimeError(.invalidInput, "the primary \(record.primary) of \(shard) answers: a restore would discard every write it took after the restore point; add --force to do it anyway")
            }
        }
        return node
    }

    /// `backup restore --shard S --promote`: checks, then restores `shard` to `target` into
    /// the staged server `promote-<shard>` and stops it cleanly, ready for the coordinator's
    /// install step (requested by the caller with `requestKind`).
    public func stagePromotion(
        _ shard: ShardID, target: ShardRestore.Target, zone: ZoneID?, force: Bool, timeout: Duration, progress: (String) -> Void = { _ in }
    ) throws(RuntimeError) -> Promotion {
        let node = try checkPromotion(shard, zone: zone, force: force)
        let name = RestorePromotion.stagingName(shard)
        let restored = try restore(shard, target: target, port: nil, timeout: timeout, name: name, progress: progress)
        progress("stopping the restored server \(name): the coordinator installs it as \(node)")
        do {
            try restores.stop(name)
        } catch {
            throw RuntimeError(.unavailable, "cannot stop the restored server \(name): \(error.description)")
        }
        CrashPoint.reach("promote.after-stage")
        return Promotion(restored: restored, node: node, requestKind: force ? .forcedRestore : .restore)
    }

    /// Waits until `shard`'s primary answers with at least one synchronous standby
    /// streaming (commits are acknowledged again), `timeout` at most; returns the primary.
    public func waitUntilAcknowledging(_ shard: ShardID, timeout: Duration, progress: (String) -> Void = { _ in }) throws(RuntimeError) -> NodeID {
        let deadline = ContinuousClock.now + timeout
        var said = false
        while true {
            let record = try shardRecord(shard)
            if let node = try control.nodes().first(where: { $0.node == record.primary }) {
                var settings = data.settings(port: node.port, database: "postgres")
                settings.connectTimeoutSeconds = 2
                if let connection = try? Connection(settings),
                   let count = try? connection.query("SELECT count(*) FROM pg_stat_replication WHERE sync_state IN ('sync', 'quorum') AND state = 'streaming'").scalar,
                   let streaming = Int(count), streaming > 0
                {
                    return record.primary
                }
            }
            if !said {
                progress("waiting for a standby of \(shard) to be rebuilt from \(record.primary) (commits wait for one)")
                said = true
            }
            guard ContinuousClock.now < deadline else {
                throw RuntimeError(.unavailable, "no synchronous standby of \(shard) streams from \(record.primary) yet; the coordinator keeps rebuilding them (see `residency status` and `residency events`)")
            }
            usleep(250_000)
        }
    }

    /// Makes the archive reach now: a commit on the live primary (recovery to a time stops
    /// at the first commit after it, and fails if it finds none), then its segment closed and
    /// archived. Without a reachable primary the archive is used as it is.
    func sealArchive(_ shard: ShardID, primary: NodeID, backups: BaseBackup) throws(RuntimeError) {
        guard let node = try control.nodes().first(where: { $0.node == primary }) else { return }
        let settings = data.settings(port: node.port, database: "postgres")
        guard let connection = try? Connection(settings) else { return }
        do {
            try connection.execute("BEGIN")
            _ = try connection.query("SELECT txid_current()")
            try connection.execute("COMMIT")
            guard let name = try connection.query("SELECT pg_walfile_name(pg_current_wal_insert_lsn())").scalar,
                  let segment = WALSegment(name: name),
                  let system = try connection.query("SELECT system_identifier FROM pg_control_system()").scalar else { return }
            try Self.vault { () throws(VaultError) in
                try backups.closeSegment(segment, archive: backups.archive(system), primary: settings, timeout: .seconds(60))
            }
        } catch let error as RuntimeError {
            throw error
        } catch {
            throw RuntimeError(.unavailable, "cannot close the current WAL segment of shard \(shard): \(error)")
        }
    }

    /// The restored servers under `<data root>/restores` whose names start with `prefix`.
    public func restoredServers(prefix: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: restores.dataRoot)) ?? []).filter { $0.hasPrefix(prefix) }.sorted()
    }

    /// Stops and deletes a restored server (`backup restore` leaves it running for the operator).
    public func discard(restored name: String) throws(RuntimeError) {
        let manager = restores
        guard FileManager.default.fileExists(atPath: manager.dataRoot + "/" + name), !name.contains("/"), !name.hasPrefix(".") else {
            throw RuntimeError(.invalidInput, "no restored server \(String(reflecting: name)) in \(manager.dataRoot)")
        }
        do {
            try manager.stop(name)
            try manager.remove(name)
        } catch {
            throw RuntimeError(.unavailable, error.description)
        }
    }

    // MARK: purge

    public struct Purged: Sendable, Codable {
        public var region: String
        public var deleted: [String]
        public var kept: Int
    }

    /// Deletes every object of every region's vault whose retain-until has passed.
    public func purge(now: Date = Date()) throws(RuntimeError) -> [Purged] {
        var result: [Purged] = []
        for region in vaultLayout.regions.keys.sorted() {
            let vault = try Self.vault { () throws(VaultError) in try vaultLayout.vault(region: region, keyFile: keyFile) }
            let purged = try Self.vault { () throws(VaultError) in try vault.purge(now: now) }
            result.append(Purged(region: region, deleted: purged.deleted, kept: purged.kept))
        }
        return result
    }

    static func vault<R>(_ body: () throws(VaultError) -> R) throws(RuntimeError) -> R {
        do {
            return try body()
        } catch {
            throw RuntimeError(error.kind == .invalidInput ? .invalidInput : .unavailable, error.message)
        }
    }
}
