import Foundation
import Logging
import Synchronization

/// Deletes the source copies that switched moves retain, once their retention has ended:
/// run by the coordinator that holds the lease, on a thread of its own (deleting a large
/// copy and vacuuming takes seconds, which the failover loop must not wait for).
final class RetentionPurger: Sendable {
    let layout: StateDirectory.Layout
    let logger: Logger
    let interval: Duration
    /// Whether this coordinator leads (asked before every round).
    let isLeading: @Sendable () -> Bool
    private let stopped = Mutex(false)
    private let finished = Mutex(false)

    init(layout: StateDirectory.Layout, logger: Logger, interval: Duration = .seconds(30), isLeading: @escaping @Sendable () -> Bool) {
        self.layout = layout
        self.logger = logger
        self.interval = interval
        self.isLeading = isLeading
    }

    func start() {
        let thread = Thread { [self] in
            var next = ContinuousClock.now + .seconds(2)
            while !stopped.withLock({ $0 }) {
                if ContinuousClock.now >= next {
                    next = ContinuousClock.now + interval
                    if isLeading() { purgeDue() }
                }
                Thread.sleep(forTimeInterval: 0.2)
            }
            finished.withLock { $0 = true }
        }
        thread.name = "retention purger"
        thread.start()
    }

    func stop() {
        stopped.withLock { $0 = true }
        while !finished.withLock({ $0 }) { usleep(10_000) }
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
