import ArgumentParser
import Foundation
import Logging
import ResidencyRuntime

/// Set by SIGTERM/SIGINT; read by the coordinator loop.
nonisolated(unsafe) private var stopRequested: sig_atomic_t = 0

struct CoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Run the coordinator in the foreground: probe, fail over inside a region, fence, rejoin.",
        discussion: """
            Only the holder of the lease (a row in the control database with an expiry and a \
            token) acts; a second instance waits, says so, and takes over when the lease \
            expires (3 s after the holder's last renewal). Every step is journaled before and \
            after it acts, so a coordinator killed at any step resumes on restart. \
            `residency up` starts one in the background (log: <state>/coordinator.log). \
            The leader also takes a base backup of every shard whose newest is older than \
            backups.interval_hours (24 by default), into the shard's region vault. \
            Local mode only: nodes on other hosts are not supported yet. \
            Stops on SIGTERM or SIGINT, giving the lease up.
            """)

    @Option(help: ArgumentHelp(
        "At most this many shards' failover steps run at once (default: failover.effect_concurrency in regions/topology.yaml, else 8).",
        valueName: "n"))
    var effectConcurrency: Int?
    @Option(name: .customLong("first-backup-after"), help: ArgumentHelp(
        "Seconds after it starts before the coordinator's first round of base backups (backups.interval_hours in regions/topology.yaml sets how often; 0 there turns them off).",
        valueName: "seconds"))
    var firstBackupAfter: Int = 60
    @OptionGroup var state: StateOptions

    func validate() throws {
        if let effectConcurrency, !(1...256).contains(effectConcurrency) {
            throw ValidationError("--effect-concurrency must be between 1 and 256, not \(effectConcurrency)")
        }
        if !(0...86_400).contains(firstBackupAfter) {
            throw ValidationError("--first-backup-after must be between 0 and 86400 seconds, not \(firstBackupAfter)")
        }
    }

    func run() throws {
        signal(SIGTERM) { _ in stopRequested = 1 }
        signal(SIGINT) { _ in stopRequested = 1 }
        var logger = Logger(label: "residency.coordinator")
        logger.logLevel = .notice
        let service = CoordinatorService(state: state.directory, logger: logger, effectConcurrency: effectConcurrency,
                                         firstBackupAfter: .seconds(firstBackupAfter))
        try service.run { stopRequested != 0 }
    }
}
