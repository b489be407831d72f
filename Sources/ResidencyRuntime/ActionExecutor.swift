import Foundation
import Logging
import ResidencyCore
import ResidencyPostgres
#if canImport(Glibc)
import Glibc
#endif

/// Carries out the coordinator's actions against the local topology and reports each
/// outcome as the event Core expects. Before it acts on a node it makes a journal write
/// checked against the action's lease token; when that fails it acts on nothing.
struct ActionExecutor {
    let control: ControlStore
    let manager: LocalNodeManager
    let data: DataNodes
    let ports: [NodeID: Int]
    let logger: Logger

    /// The outcome of one action, as an event for Core (`nil` when there is none), or
    /// `leaseLost` when a journal write found the lease gone.
    enum Outcome {
        case event(Coordinator.Event?)
        case leaseLost
    }

    func execute(_ action: Coordinator.Action) -> Outcome {
        do {
            switch action {
            case let .record(record):
                try control.appendEvent(record)
                logger.notice("\(record.kind): \(record.detail)", metadata: record.shard.map { ["shard": "\($0)"] } ?? [:])
                return .event(nil)
            case let .perform(operation, token):
                return perform(operation, token: token)
            case let .fence(node, token):
                try control.checkLease(token: token)
                let pids = manager.signalAll(node.fileName, SIGKILL)
                try control.setNeedsRewind(node, true, token: token)
                try control.appendEvent(CoordinatorRecord(kind: "fence.done", shard: node.shard, from: node, detail: "killed \(pids.count) process(es)"))
                return .event(.fenced(node))
            case let .rejoin(node, primary, rewind, token):
                return rejoinOutcome(node, primary: primary, rewind: rewind, token: token)
            case let .confirmRejoined(node, token):
                try control.setNeedsRewind(node, false, token: token)
                try control.appendEvent(CoordinatorRecord(kind: "rejoin.confirmed", shard: node.shard, from: node,
                                                          detail: "streams from the current primary; no rewind needed"))
                return .event(.rejoined(node))
            case let .setSynchronousStandbys(primary, standbys, token):
                try control.setSynchronousStandbys(primary.shard, standbys, token: token)
                let connection = try connect(primary)
                try ReplicationAdmin.setSynchronousStandbyNames(ReplicationAdmin.synchronousStandbyNames(standbys), on: connection)
                return .event(.synchronousStandbysSet(primary))
            }
        } catch {
            if Self.isNotLeader(error) { return .leaseLost }
            logger.error("action failed: \(error)")
            if case let .fence(node, _) = action { return .event(.fenced(node)) }
            if case let .setSynchronousStandbys(primary, _, _) = action { return .event(.synchronousStandbysSet(primary)) }
            if case let .confirmRejoined(node, _) = action { return .event(.rejoinFailed(node, reason: "\(error)")) }
            return .event(nil)
        }
    }

    private func rejoinOutcome(_ node: NodeID, primary: NodeID, rewind: Bool, token: Int64) -> Outcome {
        let started = ContinuousClock.now
        do {
            try control.checkLease(token: token)
            try rejoin(node, primary: primary, rewind: rewind)
            try control.setNeedsRewind(node, false, token: token)
            try control.appendEvent(
                CoordinatorRecord(kind: "rejoin", shard: node.shard, from: node, to: primary,
                                  detail: rewind ? "rewound and restarted as a standby" : "restarted as a standby"),
                duration: ContinuousClock.now - started)
            return .event(.rejoined(node))
        } catch {
            return Self.isNotLeader(error) ? .leaseLost : .event(.rejoinFailed(node, reason: "\(error)"))
        }
    }

    static func isNotLeader(_ error: any Error) -> Bool {
        (error as? RuntimeError)?.kind == .notLeader
    }

    /// One step of a failover or switchover: journal it (lease-checked), act, journal the result.
    private func perform(_ operation: ShardOperation, token: Int64) -> Outcome {
        let started = ContinuousClock.now
        do {
            try control.journal(operation, token: token)
            switch operation.step {
            case .drain:
                try drain(operation)
            case .epoch:
                try control.bumpEpoch(operation, token: token)
            case .synchronousStandbys:
                let candidate = try connect(operation.to)
                try ReplicationAdmin.setSynchronousStandbyNames(ReplicationAdmin.synchronousStandbyNames(operation.standbys), on: candidate)
            case .repoint:
                let candidate = try connect(operation.to)
                for node in operation.standbys + [operation.from] {
                    try ReplicationAdmin.ensureSlot(node.postgresName, on: candidate)
                }
                for standby in operation.standbys where standby != operation.from {
                    do {
                        try ReplicationAdmin.follow(settings(operation.to), slot: standby.postgresName, on: try connect(standby))
                    } catch {
                        // It will be rejoined when it is reachable again.
                        logger.warning("could not repoint \(standby) to \(operation.to): \(error)")
                    }
                }
            case .promote:
                try ReplicationAdmin.promote(on: try connect(operation.to))
            case .fence:
                if operation.kind == .switchover {
                    try manager.stop(operation.from.fileName)
                } else {
                    manager.signalAll(operation.from.fileName, SIGKILL)
                }
                try control.setNeedsRewind(operation.from, true, token: token)
            case .done:
                break
            }
            CrashPoint.reach("coordinator.after-\(operation.step.rawValue)")
            if operation.step.next(for: operation.kind) == .done { try control.finish(operation, token: token) }
            try control.appendEvent(
                CoordinatorRecord(kind: "\(operation.kind.rawValue).step", shard: operation.shard, epoch: operation.epoch,
                                  from: operation.from, to: operation.to, detail: operation.step.rawValue),
                duration: ContinuousClock.now - started)
            return .event(.stepDone(operation.shard, operation.step))
        } catch {
            return Self.isNotLeader(error) ? .leaseLost : .event(.stepFailed(operation.shard, operation.step, reason: "\(error)"))
        }
    }

    /// Switchover: stop acknowledging commits on the old primary, then wait until the
    /// target has replayed everything it wrote. On failure the old primary gets its
    /// synchronous standbys back, so nothing changed.
    private func drain(_ operation: ShardOperation) throws {
        let old = try connect(operation.from)
        let previous = try old.query("SHOW synchronous_standby_names").scalar ?? ""
        try ReplicationAdmin.setSynchronousStandbyNames(ReplicationAdmin.fencedStandbyNames, on: old)
        do {
            guard let lsn = try old.query("SELECT pg_current_wal_lsn()::text").scalar.flatMap(LSN.init) else {
                throw RuntimeError(.unavailable, "no WAL position from \(operation.from)")
            }
            let target = try connect(operation.to)
            let deadline = ContinuousClock.now + .seconds(10)
            while true {
                let replayed = try target.query("SELECT pg_last_wal_replay_lsn()::text").scalar.flatMap(LSN.init)
                if let replayed, replayed >= lsn { break }
                guard ContinuousClock.now < deadline else {
                    throw RuntimeError(.unavailable, "\(operation.to) did not replay up to \(lsn) within 10 s")
                }
                usleep(10_000)
            }
        } catch {
            try? ReplicationAdmin.setSynchronousStandbyNames(previous, on: old)
            throw error
        }
    }

    /// Makes `node` a streaming standby of `primary`: repointed over SQL when it runs,
    /// otherwise rewound (former primaries; rebuilt from a base backup if that fails),
    /// configured and started.
    private func rejoin(_ node: NodeID, primary: NodeID, rewind: Bool) throws {
        let server = node.fileName
        if node == primary {
            // The primary of the current epoch, whose promotion was refused: back in place.
            guard let port = ports[node] else { throw RuntimeError(.unavailable, "no port for \(node)") }
            try manager.start(server, port: port, clusterName: node.description)
            return
        }
        // A standby may start while its primary is down (after a region outage, nothing
        // else could come back); its slot is created when the primary answers. A rewind
        // needs the primary as its source.
        if let primaryConnection = try? connect(primary) {
            try ReplicationAdmin.ensureSlot(node.postgresName, on: primaryConnection)
        } else if rewind {
            throw RuntimeError(.unavailable, "\(node) must be rewound from \(primary), which does not answer")
        }
        if manager.runningPID(server) != nil {
            let running = try Connection(settings(node), deadline: ContinuousClock.now + .seconds(1))
            guard try running.query("SELECT pg_is_in_recovery()").scalar == "t" else {
                throw RuntimeError(.unavailable, "\(node) runs as a primary; it must be fenced first")
            }
            try ReplicationAdmin.follow(settings(primary), slot: node.postgresName, on: running)
            return
        }
        guard let port = ports[node] else { throw RuntimeError(.unavailable, "no port for \(node)") }
        if rewind {
            do {
                try manager.rewind(server, from: settings(primary), slot: node.postgresName)
            } catch {
                logger.warning("pg_rewind of \(node) failed (\(error)); rebuilding it from a base backup")
                try manager.remove(server)
                try manager.createStandby(server, from: settings(primary), slot: node.postgresName)
            }
        } else {
            try manager.followPrimary(server, primary: settings(primary), slot: node.postgresName)
        }
        try manager.start(server, port: port, clusterName: node.description)
    }

    func settings(_ node: NodeID) -> ConnectionSettings {
        var settings = data.settings(port: ports[node] ?? 0, connectTimeoutSeconds: 2)
        settings.statementTimeoutMilliseconds = 35_000
        return settings
    }

    func connect(_ node: NodeID) throws -> Connection {
        try Connection(settings(node), deadline: ContinuousClock.now + .seconds(2))
    }
}
