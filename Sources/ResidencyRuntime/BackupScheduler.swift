import Foundation
import Logging
import ResidencyCore
import Synchronization

/// The leading coordinator's base backups: every shard gets one when its newest is older
/// than `backups.interval_hours` (topology.yaml; 0 turns this off), on a thread of its own
/// (a backup takes minutes on a large shard; the failover loop must not wait for it), one
/// shard at a time. The first round waits `firstRound` after the coordinator starts, so a
/// freshly created topology is not backed up under the feet of whatever `up` is for.
final class BackupScheduler: Sendable {
    let state: StateDirectory
    let logger: Logger
    let firstRound: Duration
    let every: Duration
    /// Whether this coordinator leads (asked before every round and every shard).
    let isLeading: @Sendable () -> Bool
    private let stopped = Mutex(false)
    private let finished = Mutex(false)

    init(state: StateDirectory, logger: Logger, firstRound: Duration = .seconds(60), every: Duration = .seconds(60),
         isLeading: @escaping @Sendable () -> Bool) {
        self.state = state
        self.logger = logger
        self.firstRound = firstRound
        self.every = every
        self.isLeading = isLeading
    }

    func start() {
        let thread = Thread { [self] in
            var next = ContinuousClock.now + firstRound
            while !stopped.withLock({ $0 }) {
                if ContinuousClock.now >= next {
                    // A follower asks again every second: it may lead any moment.
                    next = ContinuousClock.now + (isLeading() ? every : .seconds(1))
                    if isLeading() { round() }
                }
                Thread.sleep(forTimeInterval: 0.2)
            }
            finished.withLock { $0 = true }
        }
        thread.name = "backup scheduler"
        thread.start()
    }

    /// Asks the thread to stop and waits for it at most 2 s: a base backup under way is not
    /// waited for (the coordinator exits; its `pg_basebackup` dies with the pipe, and the
    /// half-stored object is never linked into the vault).
    func stop() {
        stopped.withLock { $0 = true }
        for _ in 0..<200 where !finished.withLock({ $0 }) { usleep(10_000) }
    }

    /// One round: a base backup of every shard that is due.
    func round() {
        do {
            let service = try BackupService(state: state)
            let settings = try service.control.requireTopology().backups
            guard settings.intervalHours > 0 else { return }
            for shard in try service.control.shards().map(\.shard) {
                guard !stopped.withLock({ $0 }), isLeading() else { return }
                let newest = try service.list(shard: shard).map(\.consistentAt).max()
                guard BackupPlanning.isDue(now: Date().timeIntervalSince1970, newest: newest, intervalSeconds: Double(settings.intervalHours) * 3600)
                else { continue }
                do {
                    let manifest = try service.take(shard)
                    logger.notice("base backup \(manifest.qualifiedID): \(manifest.plainBytes) bytes from \(manifest.source), stored as \(manifest.storedBytes)")
                    try? service.control.appendEvent(kind: "backup.taken", shard: shard,
                                                     detail: "base backup \(manifest.qualifiedID) from \(manifest.source): \(manifest.plainBytes) bytes, stored \(manifest.storedBytes)")
                } catch {
                    logger.warning("base backup of \(shard) failed: \(error)")
                    try? service.control.appendEvent(kind: "backup.failed", shard: shard, detail: "\(error)")
                }
            }
        } catch {
            logger.warning("backup round skipped: \(error)")
        }
    }
}
