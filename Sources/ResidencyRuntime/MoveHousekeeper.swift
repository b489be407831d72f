import Foundation
import Logging
import Synchronization

/// What the leading coordinator does for residency moves, on a thread of its own (a move
/// runs for minutes and a purge for seconds; the failover loop must not wait for either):
/// starts scheduled moves when their window opens (and resumes one whose process died
/// inside its window), and deletes the source copies that switched moves retain once their
/// retention has ended.
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
                    if isLeading() { startDueMoves() }
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

    func startDueMoves() {
        do {
            let executor = try MoveExecutor(layout: layout)
            for id in try executor.dueScheduledMoves() {
                do {
                    logger.notice("move \(id): its window is open; running it")
                    let move = try executor.execute(id)
                    let why = move.reason.isEmpty ? "" : ": \(move.reason)"
                    logger.notice("move \(id) ended its run \(move.phase.rawValue)\(why)")
                } catch {
                    logger.warning("move \(id) not run: \(error)")
                }
            }
        } catch {
            logger.warning("scheduled moves not checked: \(error)")
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
