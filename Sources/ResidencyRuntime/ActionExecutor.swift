import Foundation
import Logging
import ResidencyCore
import ResidencyPostgres

/// Carries out one of the coordinator's effects and reports its outcome as the event Core
/// expects: success as the matching event, failure as the matching typed failure event
/// (never as success), a lost lease as `.leaseLost`. Before it acts on a node it makes a
/// journal write checked against the action's lease token; when that fails it acts on nothing.
/// What it did goes to `note` for the event log, written later in one batch (an extra commit
/// per step would sit on the failover's critical path).
struct ActionExecutor {
    let control: any CoordinatorControl
    let nodes: any NodeEffects
    let logger: Logger
    var note: (CoordinatorRecord, Duration?) -> Void = { _, _ in }

    func execute(_ action: Coordinator.Action) -> CoordinatorDriver.Outcome {
        let started = ContinuousClock.now
        do {
            switch action {
            case let .record(record):
                note(record, nil)
                return .event(nil)
            case let .perform(operation, token):
                try perform(operation, token: token, started: started)
                return .event(.stepDone(operation.shard, operation.step))
            case let .fence(node, token):
                try control.checkLease(token: token)
                let signalled = nodes.kill(node)
                try control.setNeedsRewind(node, true, token: token)
                note(CoordinatorRecord(kind: "fence.done", shard: node.shard, from: node, detail: "killed \(signalled) process(es)"),
                     ContinuousClock.now - started)
                return .event(.fenced(node))
            case let .rejoin(node, primary, rewind, token):
                try control.checkLease(token: token)
                try nodes.rejoin(node, primary: primary, rewind: rewind)
                try control.setNeedsRewind(node, false, token: token)
                note(CoordinatorRecord(kind: "rejoin", shard: node.shard, from: node, to: primary,
                                       detail: node == primary ? "restarted in place" : rewind ? "rewound and restarted as a standby" : "restarted as a standby"),
                     ContinuousClock.now - started)
                return .event(.rejoined(node, following: primary))
            case let .confirmRejoined(node, primary, token):
                try control.setNeedsRewind(node, false, token: token)
                note(CoordinatorRecord(kind: "rejoin.confirmed", shard: node.shard, from: node,
                                       detail: "streams from the current primary; no rewind needed"), nil)
                return .event(.rejoined(node, following: primary))
            case let .setSynchronousStandbys(primary, standbys, token):
                try control.setSynchronousStandbys(primary.shard, standbys, token: token)
                try nodes.setSynchronousStandbys(standbys, on: primary)
                return .event(.synchronousStandbysSet(primary, standbys: standbys))
            }
        } catch {
            if Self.isNotLeader(error) { return .leaseLost }
            let failure = Self.failure(error)
            logger.error("\(Self.describe(action)) failed: \(failure)")
            return Self.failed(action, failure)
        }
    }

    /// The failure event Core expects for `action`.
    static func failed(_ action: Coordinator.Action, _ failure: EffectFailure) -> CoordinatorDriver.Outcome {
        switch action {
        case .record: .event(nil)
        case let .perform(operation, _): .event(.stepFailed(operation.shard, operation.step, failure))
        case let .fence(node, _): .event(.fenceFailed(node, failure))
        case let .rejoin(node, _, _, _), let .confirmRejoined(node, _, _): .event(.rejoinFailed(node, failure))
        case let .setSynchronousStandbys(primary, _, _): .event(.synchronousStandbysFailed(primary, failure))
        }
    }

    /// One step of a failover or switchover: journal it (lease-checked), act, journal the result.
    private func perform(_ operation: ShardOperation, token: Int64, started: ContinuousClock.Instant) throws {
        try control.journal(operation, token: token)
        switch operation.step {
        case .drain:
            try nodes.drain(from: operation.from, to: operation.to)
        case .epoch:
            try control.bumpEpoch(operation, token: token)
        case .synchronousStandbys:
            try nodes.setSynchronousStandbys(operation.standbys, on: operation.to)
        case .repoint:
            try nodes.repoint(operation.standbys.filter { $0 != operation.from }, slotsFor: operation.standbys + [operation.from], to: operation.to)
        case .promote:
            if operation.kind == .restore {
                // Installed as a primary: starting it is its promotion.
                try nodes.rejoin(operation.to, primary: operation.to, rewind: false)
            } else {
                try nodes.promote(operation.to)
            }
        case .fence:
            switch operation.kind {
            case .switchover:
                try nodes.stop(operation.from)
                try control.setNeedsRewind(operation.from, true, token: token)
            case .failover, .forcedFailover:
                nodes.kill(operation.from)
                try control.setNeedsRewind(operation.from, true, token: token)
            case .restore:
                // Power fencing of every member: none of the old data takes a write again.
                for node in [operation.to] + operation.standbys { nodes.kill(node) }
                for node in operation.standbys { try control.setNeedsRewind(node, true, token: token) }
            }
        case .install:
            try nodes.install(operation.to, standbys: operation.standbys, epoch: operation.epoch)
        case .done:
            break
        }
        CrashPoint.reach("coordinator.after-\(operation.step.rawValue)")
        if operation.step.next(for: operation.kind) == .done { try control.finish(operation, token: token) }
        note(CoordinatorRecord(kind: "\(operation.kind.rawValue).step", shard: operation.shard, epoch: operation.epoch,
                               from: operation.from, to: operation.to, detail: operation.step.rawValue),
             ContinuousClock.now - started)
    }

    static func isNotLeader(_ error: any Error) -> Bool {
        (error as? RuntimeError)?.kind == .notLeader
    }

    /// The typed failure Core gets for `error`.
    static func failure(_ error: any Error) -> EffectFailure {
        if let error = error as? PostgresError {
            switch error.kind {
            case .connection: return EffectFailure(.unreachable, error.description)
            case .timeout: return EffectFailure(.timedOut, error.description)
            case .statement, .command: return EffectFailure(.failed, error.description)
            }
        }
        if let error = error as? RuntimeError, error.kind == .unavailable { return EffectFailure(.unreachable, error.message) }
        return EffectFailure(.failed, "\(error)")
    }

    static func describe(_ action: Coordinator.Action) -> String {
        switch action {
        case let .record(record): "recording \(record.kind)"
        case let .perform(operation, _): "\(operation.kind.rawValue) of \(operation.shard), step \(operation.step.rawValue)"
        case let .fence(node, _): "fencing \(node)"
        case let .rejoin(node, primary, _, _): "rejoining \(node) to \(primary)"
        case let .confirmRejoined(node, _, _): "confirming the rejoin of \(node)"
        case let .setSynchronousStandbys(primary, _, _): "setting the synchronous standbys of \(primary)"
        }
    }
}
