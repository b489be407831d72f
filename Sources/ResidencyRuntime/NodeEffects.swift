import Foundation
import Logging
import ResidencyCore
import ResidencyPostgres
import ResidencyVault
#if canImport(Glibc)
import Glibc
#endif

/// The coordinator's effects on the nodes of a shard. `LocalNodeEffects` carries them out
/// on local PostgreSQL servers; a simulator implements them on simulated nodes. Each call
/// ends by itself: every connection and every wait has a deadline.
public protocol NodeEffects: Sendable {
    /// Switchover: stop acknowledging commits on `old`, then wait until `target` has
    /// replayed everything `old` wrote. On failure `old` gets its synchronous set back.
    func drain(from old: NodeID, to target: NodeID) throws
    func setSynchronousStandbys(_ standbys: [NodeID], on primary: NodeID) throws
    /// Creates the slots of `members` on `primary`, then points each running standby of
    /// `standbys` at it (one that does not answer is rejoined later).
    func repoint(_ standbys: [NodeID], slotsFor members: [NodeID], to primary: NodeID) throws
    func promote(_ node: NodeID) throws
    /// SIGKILL to every process of `node`; returns how many were signalled.
    @discardableResult func kill(_ node: NodeID) -> Int
    /// A clean, fast shutdown.
    func stop(_ node: NodeID) throws
    /// Makes `node` a streaming standby of `primary` (rewinding it first when `rewind`),
    /// or restarts it in place when `node` is `primary`.
    func rejoin(_ node: NodeID, primary: NodeID, rewind: Bool) throws
    /// A restore's install step: the restored data directory staged for `node`'s shard
    /// (`backup restore --promote`) becomes `node`'s, configured as the primary of a shard
    /// whose synchronous set is `standbys`; `node`'s own directory is kept aside. Idempotent
    /// under `epoch`: a rerun after a crash finishes what the first run began.
    func install(_ node: NodeID, standbys: [NodeID], epoch: Int64) throws
}

/// `NodeEffects` on the local topology's servers.
struct LocalNodeEffects: NodeEffects {
    let manager: LocalNodeManager
    let data: DataNodes
    let ports: [NodeID: Int]
    let logger: Logger
    /// Connections kept between steps: a failover's steps on the same candidate (and six
    /// shards' at once on two cores) would otherwise each pay a fork and an authentication.
    let idle = IdleConnections()

    func drain(from old: NodeID, to target: NodeID) throws {
        let connection = try connect(old)
        let previous = try connection.query("SHOW synchronous_standby_names").scalar ?? ""
        try ReplicationAdmin.setSynchronousStandbyNames(ReplicationAdmin.fencedStandbyNames, on: connection)
        do {
            guard let lsn = try connection.query("SELECT pg_current_wal_lsn()::text").scalar.flatMap(LSN.init) else {
                throw RuntimeError(.unavailable, "no WAL position from \(old)")
            }
            let standby = try connect(target)
            let deadline = ContinuousClock.now + .seconds(10)
            while true {
                let replayed = try standby.query("SELECT pg_last_wal_replay_lsn()::text").scalar.flatMap(LSN.init)
                if let replayed, replayed >= lsn { break }
                guard ContinuousClock.now < deadline else {
                    throw RuntimeError(.unavailable, "\(target) did not replay up to \(lsn) within 10 s")
                }
                usleep(10_000)
            }
        } catch {
            try? ReplicationAdmin.setSynchronousStandbyNames(previous, on: connection)
            throw error
        }
    }

    func setSynchronousStandbys(_ standbys: [NodeID], on primary: NodeID) throws {
        try using(primary) { try ReplicationAdmin.setSynchronousStandbyNames(ReplicationAdmin.synchronousStandbyNames(standbys), on: $0) }
    }

    func repoint(_ standbys: [NodeID], slotsFor members: [NodeID], to primary: NodeID) throws {
        try using(primary) { candidate in
            for node in members {
                try ReplicationAdmin.ensureSlot(node.postgresName, on: candidate)
            }
        }
        for standby in standbys {
            do {
                try using(standby) { try ReplicationAdmin.follow(settings(primary), slot: standby.postgresName, on: $0) }
            } catch {
                // It will be rejoined when it is reachable again.
                logger.warning("could not repoint \(standby) to \(primary): \(error)")
            }
        }
    }

    func promote(_ node: NodeID) throws {
        try using(node) { try ReplicationAdmin.promote(on: $0) }
    }

    /// Runs `body` on a kept connection to `node` (every statement bounded by
    /// `answerTimeout`), or on a new one; a kept connection that turns out broken (the
    /// server restarted) is replaced once. Every body here is idempotent.
    private func using<T>(_ node: NodeID, _ body: (Connection) throws -> T) throws -> T {
        if let kept = idle.take(node) {
            do {
                let result = try body(kept)
                idle.give(kept, for: node)
                return result
            } catch let error as PostgresError where error.kind == .connection || error.kind == .timeout {
                logger.info("a kept connection to \(node) broke (\(error)); connecting again")
            }
        }
        let fresh = try connect(node)
        let result = try body(fresh)
        idle.give(fresh, for: node)
        return result
    }

    @discardableResult func kill(_ node: NodeID) -> Int {
        manager.signalAll(node.fileName, SIGKILL).count
    }

    func stop(_ node: NodeID) throws {
        try manager.stop(node.fileName)
    }

    /// Repointed over SQL when it runs, otherwise rewound (former primaries; rebuilt from a
    /// base backup if that fails), configured and started.
    func rejoin(_ node: NodeID, primary: NodeID, rewind: Bool) throws {
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
            try ReplicationAdmin.follow(replication(primary), slot: node.postgresName, on: running)
            return
        }
        guard let port = ports[node] else { throw RuntimeError(.unavailable, "no port for \(node)") }
        if rewind {
            do {
                try manager.rewind(server, from: settings(primary), upstream: replication(primary), slot: node.postgresName)
            } catch {
                logger.warning("pg_rewind of \(node) failed (\(error)); rebuilding it from a base backup")
                try manager.remove(server)
                try manager.createStandby(server, from: replication(primary), slot: node.postgresName)
            }
        } else {
            try manager.followPrimary(server, primary: replication(primary), slot: node.postgresName)
        }
        try manager.start(server, port: port, clusterName: node.description)
    }

    func install(_ node: NodeID, standbys: [NodeID], epoch: Int64) throws {
        let server = node.fileName
        let deadline = ContinuousClock.now + .seconds(15)
        while manager.runningPID(server) != nil {
            guard ContinuousClock.now < deadline else { throw RuntimeError(.unavailable, "\(node) still runs 15 s after it was fenced") }
            manager.signalAll(server, SIGKILL)
            usleep(50_000)
        }
        let staging = RestorePromotion(manager: manager, shard: node.shard)
        try staging.install(into: server, epoch: epoch, synchronousStandbyNames: ReplicationAdmin.synchronousStandbyNames(standbys))
    }

    /// As the coordinator's role (never the superuser).
    private func settings(_ node: NodeID) -> ConnectionSettings {
        var settings = data.settings(port: ports[node] ?? 0, role: .coordinator, connectTimeoutSeconds: 2)
        settings.statementTimeoutMilliseconds = 35_000
        return settings
    }

    /// What a standby streams from: `node` as the replication role.
    private func replication(_ node: NodeID) -> ConnectionSettings {
        data.settings(port: ports[node] ?? 0, role: .replication, connectTimeoutSeconds: 2)
    }

    private func connect(_ node: NodeID) throws -> Connection {
        let connection = try Connection(settings(node), deadline: ContinuousClock.now + .seconds(2))
        connection.answerTimeout = .seconds(10)
        return connection
    }
}

/// Connections to nodes, idle between two effects; each is used by one thread at a time.
final class IdleConnections: @unchecked Sendable {
    private let lock = NSLock()
    private var idle: [NodeID: [Connection]] = [:]

    func take(_ node: NodeID) -> Connection? {
        lock.withLock { idle[node]?.popLast() }
    }

    func give(_ connection: Connection, for node: NodeID) {
        lock.withLock {
            if idle[node, default: []].count < 2 { idle[node, default: []].append(connection) }
        }
    }
}
