import Foundation
import ResidencyCore
import Logging
import Synchronization

/// What the leading coordinator does for residency moves, on a thread of its own (a move
/// runs for minutes and a purge for seconds; the failover loop must not wait for either):
/// starts scheduled moves when their window opens, adopts every open move whose executor
/// is gone (see `MoveAdoption`), and deletes the source copies that switched moves retain
/// once their retention has ended.
final class MoveHousekeeper: Sendable {
    let layout: StateDirectory.Layout
    let logger: Logger
    let purgeInterval: Duration
    /// Whether this coordinator leads (asked before every round).
    let isLeading: @Sendable () -> Bool
    private let stopped = Mutex(false)
    private let finished = Mutex(false)

    init(layout: StateDirectory.Layout, logger: Logger, purgeInterval: Duration = .seconds(30), isLeading: @escaping @Sendable () -> Bool) {
        self.layout = layout
        self.logger = logger
        self.purgeInterval = purgeInterval
        self.isLeading = isLeading
    }

    func start() {
        let thread = Thread { [self] in
            var nextPurge = ContinuousClock.now + .seconds(2)
            var nextStart = ContinuousClock.now + .seconds(1)
            while !stopped.withLock({ $0 }) {
                if ContinuousClock.now >= nextStart {
                    nextStart = ContinuousClock.now + .seconds(1)
                    if isLeading() { adoptMoves() }
                }
                if ContinuousClock.now >= nextPurge {
                    nextPurge = ContinuousClock.now + purgeInterval
                    if isLeading() { purgeDue() }
                }
                Thread.sleep(forTimeInterval: 0.2)
            }
            finished.withLock { $0 = true }
        }
        thread.name = "move housekeeper"
        thread.start()
    }

    func stop() {
        stopped.withLock { $0 = true }
        while !finished.withLock({ $0 }) { usleep(10_000) }
    }

    /// Adopts every open move that nobody executes (a scheduled move whose window opened,
    /// a `move start` or a drill that was killed, a coordinator that crashed), scheduled or
    /// not, and deposes an executor that holds its lock but stopped stamping its heartbeat
    /// (`MoveAdoption` decides).
    func adoptMoves() {
        do {
            let executor = try MoveExecutor(layout: layout)
            for (move, age, locked, clock) in try executor.control.movesToWatch() {
                let decision = MoveAdoption.decide(move, controlClockMilliseconds: clock, executorHoldsLock: locked,
                                                   heartbeatAge: age.map { .milliseconds($0) }, settings: executor.settings)
                switch decision {
                case .leave:
                    continue
                case .depose:
                    logger.warning("move \(move.id): its executor holds the move but stamped no heartbeat for \((age ?? 0) / 1000) s; ending its control session")
                    try executor.control.deposeMoveExecutor(move.id)
                    try executor.control.appendEvent(kind: "move.executor-deposed", shard: move.plan.toShard,
                                                     detail: "move \(move.id) of \(move.tenant): executor silent for \((age ?? 0) / 1000) s at \(move.phase.rawValue)")
                case .adopt:
                    do {
                        logger.notice("move \(move.id): nobody executes it (\(move.phase.rawValue)); running it")
                        try executor.control.appendEvent(kind: "move.adopted", shard: move.plan.toShard,
                                                         detail: "move \(move.id) of \(move.tenant): adopted by the coordinator at \(move.phase.rawValue)")
                        let ended = try executor.execute(move.id)
                        let why = ended.reason.isEmpty ? "" : ": \(ended.reason)"
                        logger.notice("move \(move.id) ended its run \(ended.phase.rawValue)\(why)")
                    } catch {
                        logger.warning("move \(move.id) not run: \(error)")
                    }
                }
            }
        } catch {
            logger.warning("open moves not checked: \(error)")
        }
    }

    func purgeDue() {
        do {
            let executor = try MoveExecutor(layout: layout)
            for id in try executor.control.movesDueForPurge() {
                do {
                    _ = try executor.purge(id)
                    logger.notice("purged the source copy retained by move \(id): its retention ended")
                } catch {
                    logger.error("cannot purge the source copy of move \(id): \(error)")
                }
            }
        } catch {
            logger.warning("retention check skipped: \(error)")
        }
    }
}
