import Foundation
import Logging
import ResidencyCore
import Synchronization

/// Renews the coordinator's lease on a thread of its own, with a connection of its own, so
/// that a long action of the decision loop (a `pg_rewind`, a base backup) does not let the
/// lease lapse under it. It renews only while the loop has checked in within `watchdog`:
/// a loop stuck for longer gives leadership up, and a frozen process renews nothing.
final class LeaseKeeper: Sendable {
    private struct State: Sendable {
        var token: Int64?
        var loopSeen = ContinuousClock.now
        var stopped = false
    }

    private let layout: StateDirectory.Layout
    private let holder: String
    private let ttl: Duration
    private let renewal: Duration
    private let watchdog: Duration
    private let logger: Logger
    private let state = Mutex(State())

    init(layout: StateDirectory.Layout, holder: String, ttl: Duration, renewal: Duration, watchdog: Duration = .seconds(60), logger: Logger) {
        self.layout = layout
        self.holder = holder
        self.ttl = ttl
        self.renewal = renewal
        self.watchdog = watchdog
        self.logger = logger
    }

    /// The token of the lease this instance holds, as of the last renewal; `nil` when another holds it.
    var token: Int64? { state.withLock { $0.token } }

    /// Called by the decision loop on every turn.
    func loopCheckedIn() { state.withLock { $0.loopSeen = .now } }

    func start() {
        let thread = Thread { [self] in self.run() }
        thread.name = "lease"
        thread.start()
    }

    func stop() { state.withLock { $0.stopped = true } }

    private func run() {
        var control: ControlStore?
        while !state.withLock({ $0.stopped }) {
            let started = ContinuousClock.now
            let stuck = state.withLock { started - $0.loopSeen > watchdog }
            var token: Int64?
            if stuck {
                logger.error("the decision loop has not turned for \(watchdog); no longer renewing the lease")
            } else {
                do {
                    if control == nil { control = try ControlStore(layout: layout, connectTimeoutSeconds: 2) }
                    token = try control?.acquireLease(holder: holder, ttl: ttl)
                } catch {
                    logger.warning("cannot renew the lease: \(error)")
                    control = nil
                }
            }
            state.withLock { $0.token = token }
            let pause = started + renewal - ContinuousClock.now
            if pause > .zero { Thread.sleep(forTimeInterval: pause.inSeconds) }
        }
    }
}
