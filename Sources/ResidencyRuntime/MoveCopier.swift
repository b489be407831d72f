import Foundation
import ResidencyCore
import ResidencyPostgres
import Synchronization

/// The copying side of a move: the publication, the initial binary copy from the slot's
/// snapshot, the subscription that streams everything after it, and the target's change
/// tracking. Each function is one idempotent step; none decides what comes next.
struct MoveCopier {
    let context: MoveContext

    /// How a copy ended.
    enum CopyOutcome {
        case done
        /// Asked to stop while it ran (the reason), and it stopped.
        case interrupted(String)
    }

    /// The step out of `planned`: a publication on the source (row filter on the tenant),
    /// change tracking registered (off) on the target.
    func prepare(_ session: MoveSession) throws(RuntimeError) {
        let sides = try session.sides()
        let all = TenantSchema.tables(apps: context.topology.apps)
        try context.sql(sides.source) { () throws(PostgresError) in
            try MoveSchema.ensure(tables: all, on: sides.source)
            try sides.copy.createPublication(on: sides.source)
        }
        try context.sql(sides.target) { () throws(PostgresError) in
            try MoveSchema.ensure(tables: all, on: sides.target)
            try sides.copy.registerMovingIn(on: sides.target)
        }
        // The tenant's own login on the target, before anything can route it there.
        try TenantCredentials(layout: context.data.layout).install(session.plan.tenant, on: sides.target)
    }

    /// The step out of `prepared`: the initial copy (`copyRows`), then the subscription.
    /// `interruption` is asked while the copy runs: a reason stops it.
    func copy(_ session: MoveSession, interruption: () -> String?) throws(RuntimeError) -> CopyOutcome {
        if case let .interrupted(reason) = try copyRows(session, interruption: interruption) { return .interrupted(reason) }
        let sides = try session.sides()
        var subscriber = context.data.settings(port: sides.sourcePort, role: .mover, applicationName: sides.copy.name)
        subscriber.statementTimeoutMilliseconds = 0
        try context.sql(sides.target) { () throws(PostgresError) in
            try sides.copy.createSubscription(on: sides.target, sourceConnectionString: subscriber.connectionString)
        }
        return .done
    }

    /// The initial copy: a fresh slot exporting its snapshot on the source, then every
    /// moving table's rows of the tenant in that snapshot, piped in binary COPY format into
    /// the target. Starts over (new slot, target rows deleted) when an earlier attempt left a
    /// slot behind, since its snapshot is gone with the process that held it.
    ///
    /// The slot, its snapshot and the copy run on a thread of their own, watched from here:
    /// a source that stops answering (a partition, a failover) must not hang the move. A
    /// copy asked to stop that is still stuck after `copyAbandonAfter` is left behind: it
    /// commits nothing more (it asks `stop` before every buffer), and the rollback ends its
    /// sessions on the target before deleting the copied rows.
    func copyRows(_ session: MoveSession, interruption: () -> String?) throws(RuntimeError) -> CopyOutcome {
        let sides = try session.sides()
        let plan = session.plan
        try context.sql(sides.source) { () throws(PostgresError) in
            if try sides.copy.slotExists(on: sides.source) {
                try sides.copy.dropSubscription(on: sides.target)
                try sides.copy.dropSlot(on: sides.source)
                try sides.copy.stopCopies(on: sides.target)
                try sides.copy.deleteRows(on: sides.target)
            }
        }
        var source = context.data.settings(port: sides.sourcePort, role: .mover, applicationName: sides.copy.name)
        source.statementTimeoutMilliseconds = 0
        var target = context.data.settings(port: sides.targetPort, role: .mover, applicationName: sides.copy.name)
        target.statementTimeoutMilliseconds = 0
        let clock = ContinuousClock()
        let started = clock.now
        let tables = plan.items.filter { $0.decision != .notEligible }.flatMap { item in
            item.dataset.tables.map { SnapshotCopy.Table(schema: item.dataset.schema, table: $0, weight: item.bytes / Int64(item.dataset.tables.count)) }
        }
        let plannedRows = plan.movingRows
        let plannedBytes = max(plan.movingBytes, 1)
        let piped = Mutex<Int64>(0)
        let stop = Mutex(false)
        let copying = Mutex<Result<Int64, PostgresError>?>(nil)
        let copy = sides.copy
        let (sourceSettings, targetSettings, workers, sourcePort) = (source, target, context.copyWorkers, sides.sourcePort)
        let thread = Thread {
            do throws(PostgresError) {
                let replication = try Connection(connectionString: sourceSettings.connectionString + " replication=database",
                                                 address: "127.0.0.1:\(sourcePort) (replication)")
                let snapshot = try copy.createSlotExportingSnapshot(on: replication)
                // The replication connection (and with it the snapshot) stays open meanwhile.
                let rows = try SnapshotCopy.run(
                    copy, snapshot: snapshot, tables: tables, source: sourceSettings, target: targetSettings, workers: workers,
                    progress: { bytes in piped.withLock { $0 = bytes } }, shouldStop: { stop.withLock { $0 } })
                withExtendedLifetime(replication) {}
                copying.withLock { $0 = .success(rows) }
            } catch {
                copying.withLock { $0 = .failure(error) }
            }
        }
        thread.name = "copy \(copy.name)"
        thread.start()
        // Report progress and watch for an interruption while the workers copy.
        var shown: Int64 = 0
        var stopped: (at: ContinuousClock.Instant, reason: String)?
        let copiedRows: Int64
        while true {
            if let result = copying.withLock({ $0 }) {
                if let stopped { return .interrupted(stopped.reason) }
                copiedRows = try context.sql(sides.source) { () throws(PostgresError) in try result.get() }
                break
            }
            usleep(200_000)
            let estimate = min(plannedRows, piped.withLock { $0 } * plannedRows / plannedBytes)
            if estimate > shown, clock.now - started >= .seconds(1) {
                shown = estimate
                try? context.control.setMoveProgress(session.move.id, copiedRows: estimate)
                context.observe(.copying(copiedRows: estimate, plannedRows: plannedRows, lagBytes: nil))
            }
            if stopped == nil, let reason = interruption() {
                stop.withLock { $0 = true }
                stopped = (clock.now, reason)
                context.observe(.note("stopping the copy: \(reason)"))
            }
            if let stopped, clock.now - stopped.at > context.settings.copyAbandonAfter {
                context.observe(.note("the copy was stopped and abandoned: its source does not answer"))
                return .interrupted(stopped.reason)
            }
        }
        let elapsed = clock.now - started
        try context.control.setMoveCopy(session.move.id, milliseconds: max(elapsed.inMilliseconds, 1), bytes: plan.movingBytes)
        try context.control.setMoveProgress(session.move.id, copiedRows: copiedRows)
        context.observe(.copying(copiedRows: copiedRows, plannedRows: plannedRows, lagBytes: nil))
        context.observe(.note("copied \(copiedRows) rows in \(elapsed.inMilliseconds) ms (\(context.copyWorkers) pipelines)"))
        return .done
    }

    /// The subscription's state on the target (one look).
    func copyState(_ session: MoveSession) throws(RuntimeError) -> LogicalCopy.CopyState {
        let sides = try session.sides()
        return try context.sql(sides.target) { () throws(PostgresError) in try sides.copy.copyState(on: sides.target) }
    }

    /// From now on an `ALWAYS` trigger on the target logs the key of every row of the
    /// tenant that anything changes.
    func startTracking(_ session: MoveSession) throws(RuntimeError) {
        let sides = try session.sides()
        try context.sql(sides.target) { () throws(PostgresError) in try sides.copy.startTracking(on: sides.target) }
    }

    /// One marker round trip (`nil`: not arrived within `timeout`), with the source's WAL
    /// positions sampled at `now`.
    func catchUp(_ session: MoveSession, timeout: Duration, now: () -> Instant) throws(RuntimeError) -> (Duration?, CatchUpTrend.Sample?) {
        let roundTrip = try session.marker(within: timeout)
        let sides = try session.sides()
        let positions = try context.sql(sides.source) { () throws(PostgresError) in try sides.copy.walPositions(on: sides.source) }
        return (roundTrip, positions.map { CatchUpTrend.Sample(at: now(), written: $0.written, applied: $0.applied) })
    }

    /// After a target failover: whether the new target primary holds the move's
    /// subscription and applies the source's changes (a marker within
    /// `subscriptionMarkerTimeout`); `nil` when it
    /// cannot be told yet (a server still unreachable). The dead primary's walsender may
    /// still hold the slot on the source; it is ended so that the new primary's apply
    /// worker can take it.
    func subscriptionSurvived(_ session: MoveSession) -> Bool? {
        session.forget()
        do throws(RuntimeError) {
            let sides = try session.sides()
            guard try context.sql(sides.target, { () throws(PostgresError) in try sides.copy.subscriptionExists(on: sides.target) }) else {
                return false
            }
            try context.sql(sides.source) { () throws(PostgresError) in try sides.copy.releaseSlotUnlessApplying(source: sides.source, target: sides.target) }
            try session.markerRoundTrip(timeout: context.settings.subscriptionMarkerTimeout)
            return true
        } catch {
            session.forget()
            return nil
        }
    }
}
