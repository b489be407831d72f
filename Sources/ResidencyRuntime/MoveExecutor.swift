import Foundation
import ResidencyCore
import ResidencyPostgres

/// Plans residency moves and carries out what `MoveDriver` decides for them (see
/// `MovePhase` for the steps): it observes, runs steps (`MoveCopier`, `MoveVerifier`,
/// `MoveSwitcher`, `MoveRollback`, `MovePurger`), journals phases and waits, and reports
/// every outcome back to the driver as an event. It decides nothing itself. Every phase
/// is journaled in the control store before the next step acts, every step is idempotent
/// and has a crash point `move.after-<phase>`.
///
/// One process executes a move at a time: the executor holds an advisory lock on the move
/// in its control session (released when the process dies) and stamps a heartbeat on the
/// move while it works, so the leading coordinator adopts a move whose executor is gone,
/// and `rollback` from another process either asks the executor or rolls back by itself.
public final class MoveExecutor {
    /// What the executor reports while it works (on its own thread).
    public enum Event: Sendable {
        /// The move entered a phase (journaled already).
        case phase(Move)
        /// Rows copied so far of the rows planned.
        case copying(copiedRows: Int64, plannedRows: Int64, lagBytes: Int64?)
        /// Waiting for the target to catch up: the last marker's round trip, and the trend.
        case catchingUp(roundTrip: Duration, trend: CatchUpTrend)
        /// Something worth a progress line (a purge first, the copy's and the freeze's figures, a retry).
        case note(String)
    }

    public let layout: StateDirectory.Layout
    public let control: ControlStore
    public let topology: Topology
    let data: DataNodes
    let observe: (Event) -> Void

    /// The limits the driver decides with (a move's own `--catch-up-limit` overrides one).
    public var settings = MoveSettings()
    /// Parallel pipelines of the initial copy (on 2 cores one measured fastest: both servers
    /// are busy with one already; two took 30 % longer).
    public var copyWorkers = 1

    public init(layout: StateDirectory.Layout, observe: @escaping (Event) -> Void = { _ in }) throws(RuntimeError) {
        self.layout = layout
        control = try ControlStore(layout: layout)
        topology = try control.requireTopology()
        data = DataNodes(layout: layout)
        self.observe = observe
    }

    var context: MoveContext {
        MoveContext(control: control, data: data, topology: topology, settings: settings, copyWorkers: copyWorkers, observe: observe)
    }

    // MARK: plan

    /// The plan for moving `tenant` to `realm` (to `region` of it when given), with sizes
    /// measured on the primaries holding the tenant's datasets. Changes nothing.
    public func plan(tenant name: String, to realm: String, region: String?) throws(RuntimeError) -> MovePlan {
        let realmID = RealmID(realm)
        let regionID = region.map { RegionID($0) }
        let tenants = try control.tenants()
        var sizes: [String: DatasetSize] = [:]
        var openMove: (id: Int64, phase: MovePhase)?
        if let tenant = tenants.first(where: { $0.id.rawValue == name }) {
            openMove = try control.openMove(of: tenant.id)
            for dataset in Dataset.of(tenant, in: topology) {
                let (connection, _) = try context.primary(of: tenant.shard(of: dataset))
                sizes[dataset.name] = try measure(dataset, of: tenant.id, on: connection)
            }
        }
        let counts = try control.tenantCounts()
        let history = try control.moveHistory()
        do {
            return try MovePlanner.plan(
                tenantName: name, to: realmID, region: regionID, tenants: tenants, topology: topology,
                tenantsPerShard: counts, sizes: sizes, openMove: openMove, history: history)
        } catch {
            throw RuntimeError(.invalidInput, error.description)
        }
    }

    func measure(_ dataset: Dataset, of tenant: TenantID, on connection: Connection) throws(RuntimeError) -> DatasetSize {
        var size = DatasetSize(rows: 0, bytes: 0)
        for table in dataset.tables {
            let row = try context.sql(connection) { () throws(PostgresError) in
                try connection.query("""
                    SELECT count(*), coalesce(sum(pg_column_size(t.*)), 0)::bigint FROM \(SQLText.identifier(dataset.schema)).\(SQLText.identifier(table)) t
                    WHERE tenant_id = $1
                    """, [tenant.rawValue]).rows.first
            }
            size = DatasetSize(rows: size.rows + (Int64(row?[0] ?? "") ?? 0), bytes: size.bytes + (Int64(row?[1] ?? "") ?? 0))
        }
        return size
    }

    // MARK: start

    /// Records the move and runs it to the switch and cleanup (or to a rollback). A pin-only
    /// plan changes the catalogue entry's realm and ends at once.
    public func start(_ plan: MovePlan, retentionDays: Int, catchUpLimit: Duration? = nil) throws(RuntimeError) -> Move {
        if plan.pinOnly {
            let id = try control.repin(plan)
            guard let move = try control.move(id) else { throw RuntimeError(.unavailable, "move \(id) vanished") }
            observe(.phase(move))
            return move
        }
        try clearTarget(for: plan)
        let move = try control.insertMove(plan, retentionDays: retentionDays, catchUpLimit: catchUpLimit)
        observe(.phase(move))
        return try execute(move.id)
    }

    /// Records a move to start when `window` opens (the leading coordinator starts it).
    /// Refused: a window that is over, shorter than the plan's estimate (copy and freeze), a
    /// pin-only plan (nothing to schedule), or a tenant with an open or scheduled move.
    public func schedule(_ plan: MovePlan, window: MoveWindow, retentionDays: Int, catchUpLimit: Duration? = nil) throws(RuntimeError) -> Move {
        guard !plan.pinOnly else {
            throw RuntimeError(.invalidInput, "tenant \(plan.tenant)'s shard already lies in \(plan.toRealm): no data moves, nothing to schedule (`residency move start` changes the pin now)")
        }
        let others = try control.moves().filter { $0.tenant == plan.tenant && $0.phase.isOpen }.compactMap { move in move.window.map { (move.id, $0) } }
        let now = try control.nowMilliseconds()
        do {
            try window.check(nowMilliseconds: now, estimateMilliseconds: plan.estimatedCopyMilliseconds + plan.estimatedFreezeMilliseconds, others: others)
        } catch {
            throw RuntimeError(.invalidInput, error.description)
        }
        let move = try control.insertMove(plan, retentionDays: retentionDays, window: window, catchUpLimit: catchUpLimit)
        observe(.phase(move))
        return move
    }

    /// Cancels a scheduled move that has not started; a running one is refused (roll it back instead).
    public func cancel(_ id: Int64) throws(RuntimeError) -> Move {
        guard let move = try control.move(id) else { throw RuntimeError(.invalidInput, "unknown move \(id) (see residency move list)") }
        guard move.window != nil else {
            throw RuntimeError(.invalidInput, "move \(id) was not scheduled: only a scheduled move can be cancelled (`residency move rollback \(id)` undoes a running one)")
        }
        guard move.phase == .planned, try control.lockMove(id) else {
            throw RuntimeError(.invalidInput, "move \(id) is \(move.phase.isFinal ? "over" : "running") (\(move.phase.rawValue)): it cannot be cancelled; `residency move rollback \(id)` undoes it before its switch")
        }
        defer { try? control.unlockMove(id) }
        try control.setMovePhase(move, .cancelled, reason: "cancelled by an operator before its window opened")
        return try control.move(id) ?? move
    }

    /// The target shard must hold none of the tenant's rows of the moving datasets: a copy
    /// retained there by an earlier move away is purged first; anything else is refused
    /// before the move is recorded (a rollback would delete it).
    func clearTarget(for plan: MovePlan) throws(RuntimeError) {
        let purger = MovePurger(context: context)
        let (target, _) = try context.primary(of: plan.toShard)
        let rows = try purger.tenantRows(plan.tenant, datasets: plan.movingDatasets, on: target)
        guard rows > 0 else { return }
        let retained = try control.moves().filter { $0.tenant == plan.tenant && $0.phase == .retained && $0.plan.fromShard == plan.toShard }
        for earlier in retained {
            observe(.note("purging the copy retained on \(plan.toShard) by move \(earlier.id) first"))
            _ = try purge(earlier.id)
        }
        let left = try purger.tenantRows(plan.tenant, datasets: plan.movingDatasets, on: target)
        if left > 0 {
            throw RuntimeError(.unavailable, "target shard \(plan.toShard) already holds \(left) row(s) of tenant \(plan.tenant) that no retained move accounts for: nothing started; inspect with `residency report residency`")
        }
    }

    // MARK: execute

    /// Runs move `id` from its journaled phase to `retained` (or `rolledBack`).
    public func execute(_ id: Int64) throws(RuntimeError) -> Move {
        guard try control.lockMove(id) else {
            throw RuntimeError(.unavailable, "move \(id) is being executed by another process")
        }
        defer { try? control.unlockMove(id) }
        guard let move = try control.move(id) else { throw RuntimeError(.invalidInput, "unknown move \(id) (see residency move list)") }
        if let window = move.window, move.phase == .planned, window.startMilliseconds > (try control.nowMilliseconds()) {
            throw RuntimeError(.invalidInput, "move \(id) is scheduled for \(window): its window has not opened yet (`residency move cancel \(id)` cancels it)")
        }
        if move.phase == .planned { try clearTarget(for: move.plan) }
        var settings = self.settings
        if let limit = move.catchUpLimitMilliseconds { settings.catchUpLimit = .milliseconds(limit) }
        var driver = MoveDriver(move: move, settings: settings)
        let session = MoveSession(context: context, move: move)
        let heartbeat = MoveHeartbeat(move: id, layout: layout, interval: settings.heartbeatInterval)
        defer { heartbeat.stop() }
        try drive(&driver, session)
        return try control.move(id) ?? driver.move
    }

    /// Carries out the driver's actions and reports their outcomes until the run ends.
    /// Nothing here decides: every branch is the driver's.
    func drive(_ driver: inout MoveDriver, _ session: MoveSession) throws(RuntimeError) {
        let clock = ContinuousClock()
        let origin = clock.now
        let now = { Instant(clock.now - origin) }
        var queue = driver.start(now: now())
        while !queue.isEmpty {
            let action = queue.removeFirst()
            session.move = driver.move
            switch action {
            case let .observe(primaries):
                queue += driver.handle(.observed(try Self.observation(control, of: session, primaries: primaries)), now: now())
            case let .run(step):
                let snapshot = driver
                let outcome = perform(step, session, now: now) { [control] in
                    // Asked while a copy runs: whether the move must stop (the driver's rule).
                    guard let observed = try? Self.observation(control, of: session, primaries: false) else { return nil }
                    return snapshot.interruption(observed)
                }
                queue += driver.handle(outcome, now: now())
            case let .enter(phase, reason):
                try control.setMovePhase(driver.move, phase, reason: reason)
                reached(phase, driver.move)
            case let .reached(phase):
                reached(phase, driver.move)
            case let .recordEpochs(source, target):
                try control.setMoveEpochs(session.move.id, source: source, target: target)
                session.forget()
            case let .journalReason(reason):
                try control.setMoveReason(session.move.id, reason)
            case let .progress(trend, roundTrip):
                try control.setMoveCatchUp(session.move.id, trend)
                observe(.catchingUp(roundTrip: roundTrip, trend: trend))
            case let .note(text, kind):
                observe(.note(text))
                try control.appendEvent(kind: kind, shard: session.plan.toShard, detail: "move \(session.move.id) of \(session.plan.tenant): \(text)")
            case let .wait(until):
                let left = until - now()
                if left > .zero { Thread.sleep(forTimeInterval: left.inSeconds) }
                queue += driver.handle(.woke, now: now())
            case .finished:
                return
            }
        }
    }

    func reached(_ phase: MovePhase, _ move: Move) {
        observe(.phase(move))
        CrashPoint.reach("move.after-\(phase.rawValue)")
    }

    /// What the driver decides on: the move's row (stamping the heartbeat), the control
    /// clock, the shards' epochs and, when asked, whether both primaries answer.
    static func observation(_ control: ControlStore, of session: MoveSession, primaries: Bool) throws(RuntimeError) -> MoveDriver.Observation {
        let (move, clock) = try control.observeMove(session.move.id)
        let shards = try control.shards()
        let epoch = { (shard: ShardID) in shards.first { $0.shard == shard }?.epoch ?? 0 }
        var observation = MoveDriver.Observation(
            rollbackRequested: move.rollbackRequested, controlClockMilliseconds: clock,
            sourceEpoch: epoch(move.plan.fromShard), targetEpoch: epoch(move.plan.toShard))
        if primaries {
            observation.primariesAnswer = [move.plan.fromShard, move.plan.toShard].allSatisfy { shard in
                guard let (connection, _) = try? session.context.primary(of: shard) else { return false }
                return (try? connection.query("SELECT 1")) != nil
            }
        }
        return observation
    }

    /// Runs one step and says how it went, as the driver's event. Errors are classified by
    /// where they come from (a verification that differs, a step interrupted), never by text.
    func perform(_ step: MoveDriver.Step, _ session: MoveSession, now: () -> Instant, interruption: () -> String?) -> MoveDriver.Event {
        let context = session.context
        do throws(RuntimeError) {
            switch step {
            case .prepare:
                try MoveCopier(context: context).prepare(session)
            case .copy:
                if case let .interrupted(reason) = try MoveCopier(context: context).copy(session, interruption: interruption) {
                    session.forget()
                    return .stepFailed(step, .interrupted(reason))
                }
            case .pollCopy:
                let state = try MoveCopier(context: context).copyState(session)
                return .copyPolled(done: state.done, errors: state.errors)
            case .startTracking:
                try MoveCopier(context: context).startTracking(session)
            case let .marker(timeout):
                let (roundTrip, sample) = try MoveCopier(context: context).catchUp(session, timeout: timeout, now: now)
                guard let roundTrip else { return .markerLate(waited: timeout, sample: sample) }
                return .markerArrived(roundTrip: roundTrip, sample: sample)
            case .preCheck:
                try MoveVerifier(context: context).preCheck(session)
            case let .freeze(timeout):
                try MoveVerifier(context: context).digestEarlyChanges(session)
                try MoveSwitcher(context: context).freeze(session, timeout: timeout)
            case let .verify(timeout):
                let differences = try MoveVerifier(context: context).verify(session, timeout: timeout)
                if !differences.isEmpty {
                    let found = (try? control.move(session.move.id))?.verification ?? ""
                    return .stepFailed(step, .verificationDiffers(
                        "verification found \(differences.count) table(s) that differ: \(differences.map(\.table).joined(separator: ", ")) (\(found))"))
                }
            case .switchOver:
                try MoveSwitcher(context: context).switchOver(session, barrierTimeout: context.settings.freezeTimeout)
            case .cleanup:
                try MoveSwitcher(context: context).cleanup(session)
            case let .undo(steps):
                try MoveRollback(context: context).undo(steps, session)
            case .checkSubscription:
                return .subscriptionChecked(survived: MoveCopier(context: context).subscriptionSurvived(session))
            }
            return .stepSucceeded(step)
        } catch {
            // Its connections may be what broke: the next step reconnects to the current primaries.
            session.forget()
            return .stepFailed(step, .unavailable(error.message))
        }
    }

    // MARK: rollback and purge

    /// Rolls move `id` back (only before its switch). When another process executes it,
    /// asks that process and waits up to `wait` for the rollback to end.
    public func rollback(_ id: Int64, reason: String, wait: Duration = .seconds(120)) throws(RuntimeError) -> Move {
        guard let move = try control.move(id) else { throw RuntimeError(.invalidInput, "unknown move \(id) (see residency move list)") }
        do {
            _ = try MoveMachine.next(after: move.phase, .rollbackRequested(reason))
        } catch {
            throw RuntimeError(.invalidInput, "move \(id) cannot roll back: \(error.description)")
        }
        try control.requestMoveRollback(id, reason: reason)
        if try control.lockMove(id) {
            // Nobody executes it: roll back here.
            try control.unlockMove(id)
            return try execute(id)
        }
        let clock = ContinuousClock()
        let deadline = clock.now + wait
        while clock.now < deadline {
            if let current = try control.move(id), current.phase.isFinal || current.phase >= .switched && current.phase != .rollingBack {
                return current
            }
            usleep(100_000)
        }
        throw RuntimeError(.unavailable, "move \(id) was asked to roll back, but its executor has not finished within \(wait)")
    }

    /// Deletes the source copy retained by move `id` now (before its retention ends).
    public func purge(_ id: Int64) throws(RuntimeError) -> Move {
        guard let move = try control.move(id) else { throw RuntimeError(.invalidInput, "unknown move \(id) (see residency move list)") }
        guard move.phase == .retained else {
            throw RuntimeError(.invalidInput, "move \(id) is \(move.phase.rawValue): only a retained source copy (phase retained) can be purged")
        }
        try MovePurger(context: context).deleteSourceCopy(of: move)
        try control.setMovePhase(move, .purged)
        reached(.purged, move)
        return try control.move(id) ?? move
    }
}
