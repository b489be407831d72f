import ArgumentParser
import Foundation
import ResidencyCore
import ResidencyReport
import ResidencyRuntime
import ResidencyVault

struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Base backups and the WAL archive in each region's vault: take, list, verify, restore to a point in time, purge.",
        discussion: """
            Every shard member archives its WAL into its region's vault (archive_command = residency \
            wal-push); a base backup streams from a healthy standby. Every object is compressed (zstd), \
            encrypted (AES-256-GCM, a fresh data key per object wrapped by the region's key, \
            <data root>/keys/<region>.key), stored read-only and kept until its retain-until \
            (backups.retention_days in regions/topology.yaml, 30 by default): nothing deletes it earlier.
            """,
        subcommands: [Take.self, List.self, Verify.self, Restore.self, Discard.self, Purge.self])

    struct KeyOption: ParsableArguments {
        @Option(name: .customLong("key-file"), help: ArgumentHelp("A vault key of your own (64 hex digits, mode 0600) instead of the region's.", valueName: "file"))
        var keyFile: String?
    }

    struct Take: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A base backup of a shard now, from its least lagging healthy standby (the primary when none is).",
            discussion: "Returns once the backup and the WAL that makes it consistent are durable in the vault, with its manifest sealed beside it.")

        @Option(help: "The shard.") var shard: String
        @OptionGroup var key: KeyOption
        @OptionGroup var state: StateOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let service = try BackupService(state: state.directory, keyFile: key.keyFile)
            let manifest = try service.take(try BackupCommand.shard(shard), progress: Terminal.progress())
            Terminal.output(output.json ? BackupCommand.json(manifest) : BackupCommand.text([manifest]))
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The base backups in the vault, oldest first: id, source, consistent at, sizes, retain-until.")

        @Option(help: "Only this shard's.") var shard: String?
        @OptionGroup var key: KeyOption
        @OptionGroup var state: StateOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let service = try BackupService(state: state.directory, keyFile: key.keyFile)
            let manifests = try service.list(shard: try shard.map(BackupCommand.shard))
            if output.json {
                struct Document: Encodable { let version: Int; let backups: [BackupManifest] }
                Terminal.output(JSONDocument.render(Document(version: JSONDocument.version, backups: manifests)))
            } else {
                Terminal.output(manifests.isEmpty ? "no base backups (residency backup take --shard ...)" : BackupCommand.text(manifests))
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decrypt and check every object of a backup against its manifest, then restore it into a scratch server to prove it starts.",
            discussion: "Exit 0 when everything held; 1 when an object or the restore failed (each problem is listed).")

        @Argument(help: ArgumentHelp("The backup: <shard>/<id>, as `backup list` shows.", valueName: "id")) var id: String
        @Flag(name: .customLong("no-restore"), help: "Only check the objects; do not restore into a scratch server.") var noRestore = false
        @OptionGroup var key: KeyOption
        @OptionGroup var state: StateOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let service = try BackupService(state: state.directory, keyFile: key.keyFile)
            let result = try service.verify(id, restore: !noRestore, progress: Terminal.progress())
            if output.json {
                struct Document: Encodable { let version: Int; let ok: Bool; let verification: BackupService.Verification }
                Terminal.output(JSONDocument.render(Document(version: JSONDocument.version, ok: result.ok, verification: result), snakeCase: true))
            } else {
                var lines = result.objects.map { "\($0.ok ? "ok  " : "FAIL") \($0.name)" + ($0.problem.map { ": \($0)" } ?? "") }
                if let seconds = result.restoreSeconds { lines.append("ok   restored into a scratch server and started in \(String(format: "%.1f", seconds)) s") }
                if let problem = result.restoreProblem { lines.append("FAIL restore into a scratch server: \(problem)") }
                if noRestore { lines.append("--   restore skipped (--no-restore)") }
                lines.append(result.ok ? "backup \(id) verified" : "backup \(id) FAILED verification")
                Terminal.output(lines.joined(separator: "\n"))
            }
            if !result.ok { throw ExitCode(Failure.checkFailed) }
        }
    }

    struct Restore: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Point-in-time recovery of a shard into a new server beside the live ones, or of one tenant into its live shard.",
            discussion: """
                Chooses the newest base backup consistent by --to-time, checks the WAL archive has no gap \
                after it (a gap is refused: recovery would silently stop short), restores it into \
                <data root>/restores/<shard>-<time>/ and recovers to just after the last commit at or before \
                --to-time, then promotes it and leaves it running on its own port (printed) for you to \
                inspect or copy from. It never archives and is never a member of the shard. \
                `backup discard NAME` removes it.

                --to-time: ISO 8601 UTC (2026-12-02T10:15:30Z, fractions allowed) or @<unix seconds>. \
                Without it, recovery runs to the end of the archive.

                --tenant T --to-time T0: the tenant's rows as of T0 written back into its live shard, \
                nothing of any other tenant touched. The shard is restored to T0 beside the live one, the \
                tenant's writes are frozen (its write fence), its current rows are sealed into the vault \
                (tenants/<tenant>/<id>/replaced/, kept for the retention), then in one transaction its rows \
                are replaced and compared with the restored copy before COMMIT; the fence is lifted and the \
                scratch server removed. Killed half-way, the tenant keeps its old rows or gets the restored \
                ones, never a mix; it may stay frozen until the same command is run again.

                --tenant T --to-time T0 --into NEW: the tenant's rows as of T0 copied into a new tenant NEW \
                (same realm, products and apps; its rows' tenant_id rewritten; one transaction), T \
                itself untouched: to look at what was, or to take back part of it.

                --shard S --promote: the restored server becomes the shard. For when the shard's data is \
                lost or corrupted: refused while its primary answers (every write after --to-time would be \
                discarded) unless --force, and refused when no coordinator runs (the coordinator carries it \
                out). The shard is restored as above into <data root>/restores/promote-S/ and stopped; then \
                the coordinator, as one journaled operation at a new epoch, fences every member, moves the \
                node's own data directory aside (to restores/replaced-<node>-e<epoch>/, removed by \
                `backup discard` or `down`), installs the restored one in its place as the primary (of the \
                node in --zone, default: the current primary's) and starts it; every other member is then \
                rebuilt from it (pg_rewind, or a base backup). The command returns once a synchronous \
                standby streams again (commits are acknowledged), within --timeout. The restored timeline's \
                WAL is archived by the new primary, and the command then takes a base backup of the new \
                timeline (a restore to a later time needs one; --no-backup skips it).
                """)

        @Option(help: "The shard to restore.") var shard: String?
        @Option(name: .customLong("to-time"), help: ArgumentHelp("The point in time.", valueName: "time")) var toTime: String?
        @Option(help: "The restored server's port (default: a free one).") var port: Int?
        @Option(help: ArgumentHelp("Seconds to wait for recovery to finish.", valueName: "seconds")) var timeout: Int = 900
        @Option(help: ArgumentHelp("Restore this tenant's rows into its live shard (needs --to-time).", valueName: "tenant")) var tenant: String?
        @Option(help: ArgumentHelp("With --tenant: copy its rows into this new tenant instead of replacing them.", valueName: "tenant")) var into: String?
        @Flag(help: "Make the restored server the shard's primary and rebuild its other members from it (carried out by the coordinator).") var promote = false
        @Flag(help: "With --promote: even while the shard's primary answers (its writes after --to-time are discarded).") var force = false
        @Option(help: ArgumentHelp("With --promote: the zone whose node becomes primary (default: the current primary's).", valueName: "zone")) var zone: String?
        @Flag(help: "With --promote: take no base backup of the new timeline afterwards.") var noBackup = false
        @OptionGroup var key: KeyOption
        @OptionGroup var state: StateOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            if into != nil, tenant == nil { throw Failure(message: "--into needs --tenant (whose rows to copy into the new tenant)", exitCode: Failure.invalidInput) }
            if promote, tenant != nil { throw Failure(message: "--promote restores a whole shard: give --shard, not --tenant", exitCode: Failure.invalidInput) }
            if !promote, force || zone != nil || noBackup { throw Failure(message: "--force, --zone and --no-backup go with --promote", exitCode: Failure.invalidInput) }
            guard (1...86_400).contains(timeout) else { throw Failure(message: "--timeout \(timeout) must be 1-86400 seconds", exitCode: Failure.invalidInput) }
            if let tenant {
                guard shard == nil else { throw Failure(message: "give --tenant or --shard, not both (a tenant's shard is known)", exitCode: Failure.invalidInput) }
                guard let id = TenantID(validating: tenant) else { throw Failure(message: "--tenant \(String(reflecting: tenant)) is not a tenant name", exitCode: Failure.invalidInput) }
                guard let toTime else { throw Failure(message: "backup restore --tenant needs --to-time (the moment to restore the tenant's rows to)", exitCode: Failure.invalidInput) }
                guard let date = BackupCommand.parseTime(toTime) else { throw BackupCommand.badTime(toTime) }
                let service = try BackupService(state: state.directory, keyFile: key.keyFile)
                if let into {
                    let report = try TenantRestore(service: service).restore(id, to: date, into: into, timeout: .seconds(timeout), progress: Terminal.progress())
                    if output.json {
                        struct Document: Encodable { let version: Int; let tenantRestore: TenantRestore.IntoReport }
                        Terminal.output(JSONDocument.render(Document(version: JSONDocument.version, tenantRestore: report), snakeCase: true))
                    } else {
                        var lines = ["copied tenant \(report.tenant) as of \(ShardRestore.postgresTime(date)) into new tenant \(report.into) on shard \(report.shard) from \(report.backup) in \(String(format: "%.1f", report.seconds)) s"]
                        lines += report.tables.map { "  \($0.table): \($0.rows) rows" }
                        if !report.skipped.isEmpty { lines.append("  not restored (their data lives on another shard): \(report.skipped.joined(separator: ", "))") }
                        Terminal.output(lines.joined(separator: "\n"))
                    }
                    return
                }
                let report = try TenantRestore(service: service).restore(id, to: date, timeout: .seconds(timeout), progress: Terminal.progress())
                if output.json {
                    struct Document: Encodable { let version: Int; let tenantRestore: TenantRestore.Report }
                    Terminal.output(JSONDocument.render(Document(version: JSONDocument.version, tenantRestore: report), snakeCase: true))
                } else {
                    var lines = ["restored tenant \(report.tenant) on shard \(report.shard) to \(ShardRestore.postgresTime(date)) from \(report.backup) in \(String(format: "%.1f", report.seconds)) s (writes frozen \(String(format: "%.2f", report.frozenSeconds)) s)"]
                    lines += report.tables.map { "  \($0.table): \($0.rowsBefore) rows replaced by \($0.rowsAfter)" }
                    if !report.skipped.isEmpty { lines.append("  not restored (their data lives on another shard): \(report.skipped.joined(separator: ", "))") }
                    lines.append("the replaced rows are kept in the vault: \(report.replacedCopy.first.map { ($0 as NSString).deletingLastPathComponent } ?? "-")/")
                    Terminal.output(lines.joined(separator: "\n"))
                }
                return
            }
            guard let shard else { throw Failure(message: "backup restore needs --shard or --tenant", exitCode: Failure.invalidInput) }
            if let port, !(1024...65535).contains(port) { throw Failure(message: "--port \(port) must be 1024-65535", exitCode: Failure.invalidInput) }
            var target = ShardRestore.Target.end
            if let toTime {
                guard let date = BackupCommand.parseTime(toTime) else { throw BackupCommand.badTime(toTime) }
                target = .time(date)
            }
            let service = try BackupService(state: state.directory, keyFile: key.keyFile)
            if promote {
                if port != nil { throw Failure(message: "--port does not go with --promote (the restored data takes the node's port)", exitCode: Failure.invalidInput) }
                try promoteRestore(service, shard: try BackupCommand.shard(shard), target: target)
                return
            }
            let restored = try service.restore(try BackupCommand.shard(shard), target: target, port: port, timeout: .seconds(timeout), progress: Terminal.progress())
            if output.json {
                struct Document: Encodable { let version: Int; let restored: ShardRestore.Restored }
                Terminal.output(JSONDocument.render(Document(version: JSONDocument.version, restored: restored), snakeCase: true))
            } else {
                Terminal.output("""
                    restored \(restored.backup) to \(target.description) in \(String(format: "%.1f", restored.seconds)) s
                    server \(restored.server) runs on 127.0.0.1:\(restored.port) (data \(restored.dataDirectory))
                    remove it with: residency backup discard \(restored.server)
                    """)
            }
        }
    }

    struct Discard: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop and delete a server that `backup restore` left running.")

        @Argument(help: ArgumentHelp("Its name, as `backup restore` printed.", valueName: "name")) var name: String
        @OptionGroup var state: StateOptions

        func run() throws {
            try BackupService(state: state.directory).discard(restored: name)
        }
    }

    struct Purge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete the vault objects whose retain-until has passed; nothing else.",
            discussion: "Each object's retain-until is read from its authenticated header: an object that does not authenticate stops the purge (exit 2) rather than being deleted or skipped silently.")

        @OptionGroup var key: KeyOption
        @OptionGroup var state: StateOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let purged = try BackupService(state: state.directory, keyFile: key.keyFile).purge()
            if output.json {
                struct Document: Encodable { let version: Int; let regions: [BackupService.Purged] }
                Terminal.output(JSONDocument.render(Document(version: JSONDocument.version, regions: purged)))
            } else {
                Terminal.output(purged.map { "\($0.region): deleted \($0.deleted.count) expired object(s), kept \($0.kept)" }.joined(separator: "\n"))
            }
        }
    }

    static func shard(_ text: String) throws -> ShardID {
        guard Identifier<ShardKind>.isWellFormed(text) else {
            throw Failure(message: "--shard \(String(reflecting: text)) is not a shard name", exitCode: Failure.invalidInput)
        }
        return ShardID(text)
    }

    static func text(_ manifests: [BackupManifest]) -> String {
        var table = TextTable(header: ["ID", "SOURCE", "CONSISTENT AT", "TIMELINE", "DATA", "STORED", "RETAIN UNTIL", "TENANTS"])
        for manifest in manifests {
            table.append([
                manifest.qualifiedID, manifest.source, iso(manifest.consistentAt), "\(manifest.timeline)",
                bytes(manifest.plainBytes), bytes(manifest.storedBytes), iso(manifest.retainUntil), "\(manifest.tenants.count)",
            ])
        }
        return table.render()
    }

    static func json(_ manifest: BackupManifest) -> String {
        struct Document: Encodable { let version: Int; let backup: BackupManifest }
        return JSONDocument.render(Document(version: JSONDocument.version, backup: manifest))
    }

    static func iso(_ seconds: Double) -> String {
        Date(timeIntervalSince1970: seconds).formatted(.iso8601)
    }

    static func bytes(_ count: Int64) -> String {
        count >= 1 << 20 ? String(format: "%.1f MiB", Double(count) / Double(1 << 20)) : "\(count) B"
    }

    static func badTime(_ text: String) -> Failure {
        Failure(message: "--to-time \(String(reflecting: text)) is not a time: write 2026-12-02T10:15:30Z (fractions allowed) or @<unix seconds>", exitCode: Failure.invalidInput)
    }

    /// `2026-12-02T10:15:30Z`, `2026-12-02T10:15:30.123456Z`, `...+01:00`, or `@1764670530.5`.
    static func parseTime(_ text: String) -> Date? {
        if text.hasPrefix("@") { return Double(text.dropFirst()).flatMap { $0.isFinite && $0 > 0 ? Date(timeIntervalSince1970: $0) : nil } }
        var base = text
        var fraction = 0.0
        if let dot = text.firstIndex(of: ".") {
            let rest = text[text.index(after: dot)...]
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, digits.count <= 9 else { return nil }
            fraction = Double("0." + digits) ?? 0
            base = String(text[..<dot]) + String(rest.dropFirst(digits.count))
        }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        guard let date = formatter.date(from: base) else { return nil }
        return date.addingTimeInterval(fraction)
    }
}

extension BackupCommand.Restore {
    /// `--promote`: stages the restore, hands it to the coordinator, waits for the shard to
    /// acknowledge commits again. A refusal leaves the shard as it was and removes the staged copy.
    func promoteRestore(_ service: BackupService, shard: ShardID, target: ShardRestore.Target) throws {
        let zoneID: ZoneID?
        if let zone {
            let zones = try service.control.nodes().filter { $0.node.shard == shard }.map(\.node.zone)
            guard zones.contains(ZoneID(zone)) else {
                throw Failure(message: "--zone \(String(reflecting: zone)) holds no node of \(shard) (its zones: \(zones.map(\.rawValue).joined(separator: ", ")))",
                              exitCode: Failure.invalidInput)
            }
            zoneID = ZoneID(zone)
        } else {
            zoneID = nil
        }
        let progress = Terminal.progress()
        let began = ContinuousClock.now
        let staged: Result<BackupService.Promotion, RuntimeError> = Result { () throws(RuntimeError) in
            try service.stagePromotion(shard, target: target, zone: zoneID, force: force, timeout: .seconds(timeout), progress: progress)
        }
        if case .failure(let error) = staged, error.kind == .invalidInput {
            throw Failure(message: "backup restore --promote refused: \(error.message)", exitCode: Failure.checkFailed)
        }
        let promotion = try staged.get()
        let node = promotion.node
        progress("asking the coordinator to install the restored \(shard) as \(node) (\(promotion.requestKind.rawValue))")
        let answer: String
        do {
            answer = try OperatorRequest.submitAndWait(kind: promotion.requestKind.rawValue, shard: shard, zone: node.zone, control: service.control,
                                                       timeoutSeconds: Double(timeout))
        } catch let failure as Failure where failure.exitCode == Failure.checkFailed {
            // Refused: nothing of the shard changed; the staged copy goes.
            try? service.discard(restored: RestorePromotion.stagingName(shard))
            throw failure
        }
        progress("\(answer); waiting for a synchronous standby")
        let primary = try service.waitUntilAcknowledging(shard, timeout: .seconds(timeout), progress: progress)
        let replaced = RestorePromotion.replacedName(node.fileName, epoch: try service.shardRecord(shard).epoch)
        // A restore to a later time starts from the newest backup before it, which must be
        // on the new timeline: every backup before this one is of the replaced history.
        var newBackup: String?
        var backupProblem: String?
        if !noBackup {
            progress("taking a base backup of the new timeline")
            do {
                newBackup = try service.take(shard, progress: progress).qualifiedID
            } catch {
                backupProblem = error.message
            }
        }
        let elapsed = ContinuousClock.now - began
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        if output.json {
            struct Document: Encodable { let version: Int; let promoted: Promoted }
            struct Promoted: Encodable {
                let shard: String; let primary: String; let backup: String; let targetTime: Double?; let forced: Bool; let seconds: Double; let replaced: String
                let newBackup: String?; let backupProblem: String?
            }
            Terminal.output(JSONDocument.render(Document(version: JSONDocument.version, promoted: Promoted(
                shard: shard.rawValue, primary: primary.description, backup: promotion.restored.backup, targetTime: promotion.restored.targetTime,
                forced: force, seconds: seconds, replaced: replaced, newBackup: newBackup, backupProblem: backupProblem)), snakeCase: true))
        } else {
            Terminal.output("""
                restored \(shard) from \(promotion.restored.backup) to \(target.description) and made it the shard in \(String(format: "%.1f", seconds)) s
                \(primary) is primary and acknowledges commits; the other members are rebuilt from it (residency status)
                the replaced data directory of \(node) is kept as restores/\(replaced)/ (remove it: residency backup discard \(replaced))
                """)
        }
        if let newBackup {
            Terminal.error("base backup of the new timeline: \(newBackup)")
        } else if let backupProblem {
            Terminal.error("warning: no base backup of the new timeline (\(backupProblem)); take one now: residency backup take --shard \(shard)")
        } else {
            Terminal.error("no base backup of the new timeline was taken (--no-backup); take one before relying on a restore to a later time: residency backup take --shard \(shard)")
        }
    }
}

