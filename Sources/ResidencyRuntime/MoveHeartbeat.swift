import Foundation
import ResidencyCore
import Synchronization

/// Stamps a move's heartbeat from a thread of its own (with its own control session) while
/// an executor runs the move, so that a long step (hashing tens of millions of rows) never
/// looks like a silent executor. A frozen process stops this thread too: its heartbeat
/// goes stale and the leading coordinator deposes it (`MoveAdoption`).
final class MoveHeartbeat: Sendable {
    private let stopped = Mutex(false)
    private let finished = Mutex(false)

    /// Starts stamping move `id` every `interval`; a failed stamp (the control server
    /// unreachable) is simply tried again at the next one.
    init(move id: Int64, layout: StateDirectory.Layout, interval: Duration) {
        let thread = Thread { [self] in run(move: id, layout: layout, interval: interval) }
        thread.name = "move \(id) heartbeat"
        thread.start()
    }

    private func run(move id: Int64, layout: StateDirectory.Layout, interval: Duration) {
        var control: ControlStore?
        while !stopped.withLock({ $0 }) {
            if control == nil { control = try? ControlStore(layout: layout) }
            do {
                try control?.stampMoveHeartbeat(id)
            } catch {
                control = nil
            }
            let until = ContinuousClock.now + interval
            while !stopped.withLock({ $0 }) && ContinuousClock.now < until { usleep(20_000) }
        }
        finished.withLock { $0 = true }
    }

    /// Stops stamping and waits (briefly: at most one stamp) for the thread to end.
    func stop() {
        stopped.withLock { $0 = true }
        let deadline = ContinuousClock.now + .seconds(5)
        while !finished.withLock({ $0 }) && ContinuousClock.now < deadline { usleep(5_000) }
    }
}
