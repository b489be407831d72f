import Foundation
import Logging
import ResidencyCore

/// Runs the coordinator's effects on a fixed pool of worker threads (as many as
/// `FailoverSettings.totalConcurrency`), each with a control-store connection of its own,
/// and hands their outcomes back to the loop. The driver decides what runs when; this only
/// runs it.
final class EffectRunner: @unchecked Sendable {
    private let condition = NSCondition()
    private var pending: [CoordinatorDriver.Effect] = []
    private var finished: [CoordinatorDriver.Completion] = []
    private var records: [EventEntry] = []
    private var stopped = false
    private var threads: [Thread] = []
    private let connectControl: () throws(RuntimeError) -> any CoordinatorControl
    private let nodes: any NodeEffects
    private let logger: Logger
    /// Called from a worker when an effect finished (the loop wakes up at once).
    var onFinish: @Sendable () -> Void = {}

    init(workers: Int, nodes: any NodeEffects, logger: Logger, connectControl: @escaping () throws(RuntimeError) -> any CoordinatorControl) {
        self.nodes = nodes
        self.logger = logger
        self.connectControl = connectControl
        for index in 0..<max(1, workers) {
            let thread = Thread { [self] in work() }
            thread.name = "effects \(index)"
            threads.append(thread)
        }
    }

    func start() { threads.forEach { $0.start() } }

    /// Workers finish the effect they run and take no other.
    func stop() {
        condition.lock()
        stopped = true
        pending.removeAll()
        condition.broadcast()
        condition.unlock()
    }

    func submit(_ effects: [CoordinatorDriver.Effect]) {
        guard !effects.isEmpty else { return }
        condition.lock()
        pending += effects
        condition.broadcast()
        condition.unlock()
    }

    /// The outcomes since the last call, in the order the effects finished, with the
    /// event-log records the effects made (for the loop to write in one commit).
    func drain() -> (completions: [CoordinatorDriver.Completion], records: [EventEntry]) {
        condition.lock()
        defer { condition.unlock() }
        let result = (finished, records)
        finished.removeAll()
        records.removeAll()
        return result
    }

    private func note(_ record: CoordinatorRecord, _ duration: Duration?) {
        condition.lock()
        records.append(EventEntry(record, duration: duration, at: Date()))
        condition.unlock()
    }

    private func work() {
        var control: (any CoordinatorControl)?
        while true {
            condition.lock()
            while pending.isEmpty, !stopped { condition.wait() }
            if stopped {
                condition.unlock()
                return
            }
            let effect = pending.removeFirst()
            condition.unlock()

            var outcome: CoordinatorDriver.Outcome
            do throws(RuntimeError) {
                if control == nil { control = try connectControl() }
                outcome = ActionExecutor(control: control!, nodes: nodes, logger: logger, note: note).execute(effect.action)
            } catch {
                logger.error("no control store for \(ActionExecutor.describe(effect.action)): \(error)")
                outcome = ActionExecutor.failed(effect.action, EffectFailure(.unreachable, "control store: \(error.message)"))
            }
            if case let .event(event?) = outcome, event.isFailure {
                control = nil  // the next effect reconnects, in case the control connection broke
            }
            condition.lock()
            finished.append(CoordinatorDriver.Completion(effect: effect.id, outcome: outcome))
            condition.unlock()
            onFinish()
        }
    }
}

extension Coordinator.Event {
    /// Whether this reports an effect that failed.
    var isFailure: Bool {
        switch self {
        case .stepFailed, .rejoinFailed, .fenceFailed, .synchronousStandbysFailed: true
        default: false
        }
    }
}
