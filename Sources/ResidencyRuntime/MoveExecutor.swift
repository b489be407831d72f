import Foundation
import ResidencyCore
import ResidencyPostgres
import Synchronization

/// Plans and carries out residency moves (see `MovePhase` for the steps). Every phase is
/// journaled in the control store before the next step acts, every step is idempotent and
/// has a crash point `move.after-<phase>`.
///
/// One process executes a move at a time: the executor holds an advisory lock on the move
/// in its control session (released when the process dies), so `rollback` from another
/// process either asks the executor or, when none is alive, rolls back by itself.
public final class MoveExecutor {
    /// What the executor reports while it works (on its own thread).
    public enum Event: Sendable {
        /// The move entered a phase (journaled already).
        case phase(Move)
        /// Rows copied so far of the rows planned.
        case copying(copiedRows: Int64, plannedRows: Int64, lagBytes: Int64?)
        /// Waiting for the target to catch up: the last marker's round trip.
        case catchingUp(roundTrip: Duration, lagBytes: Int64?)
        /// Something worth a progress line (a purge first, the copy's and the freeze's figures).
        case note(String)
    }

    public let layout: StateDirectory.Layout
    public let control: ControlStore
    public let topology: Topology
    let data: DataNodes
    let observe: (Event) -> Void

    /// Largest marker round trip (source commit → visible on the target) at which the
    /// target counts as caught up and the pre-check may start.
    public var caughtUpRoundTrip: Duration = .milliseconds(500)
    /// Largest marker round trip right before the freeze (the freeze waits for one more).
    public var freezeRoundTrip: Duration = .milliseconds(50)
    /// How long the freeze may wait for the tenant's open transactions and for the target.
    public var freezeTimeout: Duration = .seconds(5)
    /// How often a failing rollback step is tried again (a second apart) before the move
    /// stops and waits for `move resume`.
    public var rollbackAttempts = 30
    /// Parallel pipelines of the initial copy (on 2 cores one measured fastest: both servers
    /// are busy with one already; two took 30 % longer).
    public var copyWorkers = 1
    /// A subscription that has not started streaming after this long fails the move.
    public var stallTimeout: Duration = .seconds(120)
    /// After a failed step, how long to wait for a failover to show (a promotion) or for
    /// both primaries to answer again before calling it a plain failure.
    public var settleTimeout: Duration = .seconds(15)
    /// After a target failover, how long the new primary may take to apply the source's
    /// changes through the surviving subscription.
    public var subscriptionSurvivalTimeout: Duration = .seconds(60)

    public init(layout: StateDirectory.Layout, observe: @escaping (Event) -> Void = { _ in }) throws(RuntimeError) {
        self.layout = layout
        control = try ControlStore(layout: layout)
        topology = try control.requireTopology()
        data = DataNodes(layout: layout)
        self.observe = observe
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
                let connection = try primaryConnection(of: tenant.shard(of: dataset))
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
            let row = try sql(connection) { () throws(PostgresError) in
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
    public func start(_ plan: MovePlan, retentionDays: Int) throws(RuntimeError) -> Move {
        if plan.pinOnly {
            let id = try control.repin(plan)
            guard let move = try control.move(id) else { throw RuntimeError(.unavailable, "move \(id) vanished") }
            observe(.phase(move))
            return move
        }
        try clearTarget(for: plan)
        let move = try control.insertMove(plan, retentionDays: retentionDays)
        observe(.phase(move))
        return try execute(move.id)
    }

    /// Records a move to start when `window` opens (the leading coordinator starts it).
    /// Refused: a window that is over, shorter than the plan's estimate (copy and freeze), a
    /// pin-only plan (nothing to schedule), or a tenant with an open or scheduled move.
    public func schedule(_ plan: MovePlan, window: MoveWindow, retentionDays: Int) throws(RuntimeError) -> Move {
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
        let move = try control.insertMove(plan, retentionDays: retentionDays, window: window)
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
        var cancelled = move
        try enter(&cancelled, .cancelled, reason: "cancelled by an operator before its window opened")
        return try control.move(id) ?? cancelled
    }

    /// Scheduled moves whose window has opened and that have not ended their run (not
    /// started yet, or interrupted at any phase up to their cleanup).
    public func dueScheduledMoves() throws(RuntimeError) -> [Int64] {
        let now = try control.nowMilliseconds()
        return try control.moves().filter { move in
            !move.phase.isFinal && move.phase != .retained && move.window.map { $0.startMilliseconds <= now } == true
        }.map(\.id)
    }

    /// The target shard must hold none of the tenant's rows of the moving datasets: a copy
    /// retained there by an earlier move away is purged first; anything else is refused
    /// before the move is recorded (a rollback would delete it).
    func clearTarget(for plan: MovePlan) throws(RuntimeError) {
        let target = try primaryConnection(of: plan.toShard)
        let rows = try tenantRows(plan.tenant, datasets: plan.movingDatasets, on: target)
        guard rows > 0 else { return }
        let retained = try control.moves().filter { $0.tenant == plan.tenant && $0.phase == .retained && $0.plan.fromShard == plan.toShard }
        for earlier in retained {
            observe(.note("purging the copy retained on \(plan.toShard) by move \(earlier.id) first"))
            _ = try purge(earlier.id)
        }
        let left = try tenantRows(plan.tenant, datasets: plan.movingDatasets, on: target)
        if left > 0 {
            throw RuntimeError(.unavailable, "target shard \(plan.toShard) already holds \(left) row(s) of tenant \(plan.tenant) that no retained move accounts for: nothing started; inspect with `residency report residency`")
        }
    }

    func tenantRows(_ tenant: TenantID, datasets: [Dataset], on connection: Connection) throws(RuntimeError) -> Int64 {
        var total: Int64 = 0
        for dataset in datasets {
            for table in dataset.tables {
                total += try sql(connection) { () throws(PostgresError) in
                    Int64(try connection.query("SELECT count(*) FROM \(SQLText.identifier(dataset.schema)).\(SQLText.identifier(table)) WHERE tenant_id = $1",
                                               [tenant.rawValue]).scalar ?? "") ?? 0
                }
            }
        }
        return total
    }

    // MARK: execute

    /// Runs move `id` from its journaled phase to `retained` (or `rolledBack`).
    public func execute(_ id: Int64) throws(RuntimeError) -> Move {
        guard try control.lockMove(id) else {
            throw RuntimeError(.unavailable, "move \(id) is being executed by another process")
        }
        defer { try? control.unlockMove(id) }
        guard var move = try control.move(id) else { throw RuntimeError(.invalidInput, "unknown move \(id) (see residency move list)") }
        var run = Run(move: move)
        if let window = move.window, move.phase == .planned, window.startMilliseconds > (try control.nowMilliseconds()) {
            throw RuntimeError(.invalidInput, "move \(id) is scheduled for \(window): its window has not opened yet (`residency move cancel \(id)` cancels it)")
        }
        if move.phase == .planned { try clearTarget(for: move.plan) }
        loop: while !move.phase.isFinal && move.phase != .retained {
            if move.sourceEpoch == nil { try recordEpochs(&move) }
            // Fresh from the control store: a rollback may have been requested meanwhile.
            var found = try circumstances(try control.move(id) ?? move)
            var decision = MoveMachine.decide(move.phase, found)
            if decision == .checkSubscription {
                found.subscriptionSurvived = try subscriptionSurvives(&run)
                decision = MoveMachine.decide(move.phase, found)
            }
            switch decision {
            case .ended:
                break loop
            case let .rollBack(reason):
                run.rollbackFrom = move.phase
                try enter(&move, .rollingBack, reason: reason)
                continue
            case .checkSubscription:
                preconditionFailure("decided after the check")
            case .redo:
                if let failover = found.targetFailover, move.phase < .switched {
                    // The target failed over before its subscription existed, or the subscription
                    // survived on the new primary: the step is redone there.
                    try control.setMoveEpochs(id, source: move.sourceEpoch ?? failover.epochNow, target: failover.epochNow)
                    move.targetEpoch = failover.epochNow
                    run.sides = nil
                    run.preCheck = nil
                    let detail = "move \(id) of \(move.tenant): the target shard \(failover.shard) failed over at \(move.phase.rawValue) (epoch \(failover.epochBefore) -> \(failover.epochNow)); "
                        + (found.subscriptionSurvived == true ? "the subscription survived on the new primary" : "its subscription did not exist yet") + ": carrying on"
                    try control.appendEvent(kind: "move.target-failed-over", shard: failover.shard, epoch: failover.epochNow, detail: detail)
                    observe(.note(detail))
                }
            }
            let phase = move.phase
            do {
                try step(&run, phase: phase)
                let next = try phaseAfterSuccess(phase)
                try enter(&move, next)
                run.move = move
            } catch {
                // Its connections may be what broke: the next step (or the rollback) reconnects.
                run.sides = nil
                run.preCheck = nil
                // A failover (or a request, or the window's end) explains a broken step better
                // than its error does: the top of the loop decides on it.
                if phase < .switched, try settle(move) != .calm { continue }
                let reason = "the step after \(phase.rawValue) failed: \(error.message)"
                let next: MovePhase
                do {
                    next = try MoveMachine.next(after: phase, .failed(reason))
                } catch {
                    throw RuntimeError(.unavailable, error.description)
                }
                if next == phase, phase == .rollingBack, run.rollbackAttempts < rollbackAttempts {
                    // A failover may still be promoting the shard's new primary: try again.
                    run.rollbackAttempts += 1
                    Thread.sleep(forTimeInterval: 1)
                    continue
                }
                if next == phase {
                    // Past the switch (or rolling back): steps are retried, not undone.
                    try control.setMovePhase(move, phase, reason: reason)
                    throw RuntimeError(.unavailable, "move \(id) stopped at \(phase.rawValue): \(reason); run `residency move resume \(id)` to retry")
                }
                run.rollbackFrom = phase
                try enter(&move, next, reason: reason)
            }
        }
        return try control.move(id) ?? move
    }

    /// The phase a successful step out of `phase` reaches.
    func phaseAfterSuccess(_ phase: MovePhase) throws(RuntimeError) -> MovePhase {
        do {
            return try MoveMachine.next(after: phase, .succeeded)
        } catch {
            throw RuntimeError(.unavailable, error.description)
        }
    }

    /// What one execution keeps in memory: connections, the open pre-check snapshots.
    struct Run {
        var move: Move
        var rollbackFrom: MovePhase?
        var sides: Sides?
        var preCheck: PreCheck?
        var freezeStarted: ContinuousClock.Instant?
        /// Where the write freeze's time went, step by step.
        var freezeSteps: [(String, Duration)] = []
        var markerSeq: Int64 = Int64(Date().timeIntervalSince1970 * 1000)
        var rollbackAttempts = 0

        init(move: Move) {
            self.move = move
        }
    }

    /// The source and target primaries of a move.
    struct Sides {
        let source: Connection
        let target: Connection
        let sourcePort: Int
        let targetPort: Int
        let copy: LogicalCopy
    }

    /// The pre-check's digests and the snapshots they were taken in (kept open until verified).
    struct PreCheck {
        let sourceSnapshot: Connection
        let targetSnapshot: Connection
        let targetSnapshotID: String
        let sourcePID: Int32
        var source: [String: TableDigest]
        var target: [String: TableDigest]
        /// Keys already logged as changed right before the freeze, per table, with their
        /// digests in the pre-check's snapshots: computed while writers still write, so the
        /// freeze only hashes the keys changed after them (and every changed key afresh).
        var earlyKeys: [String: Set<String>] = [:]
        var earlySource: [String: TableDigest] = [:]
        var earlyTarget: [String: TableDigest] = [:]
    }

    func enter(_ move: inout Move, _ phase: MovePhase, reason: String? = nil) throws(RuntimeError) {
        try control.setMovePhase(move, phase, reason: reason)
        move.phase = phase
        if let reason { move.reason = reason }
        observe(.phase(move))
        if phase != .planned { CrashPoint.reach("move.after-\(phase.rawValue)") }
    }

    /// Records the current epochs of the move's shards as the ones its steps rely on.
    func recordEpochs(_ move: inout Move) throws(RuntimeError) {
        let shards = try control.shards()
        let epoch = { (shard: ShardID) in shards.first { $0.shard == shard }?.epoch ?? 0 }
        move.sourceEpoch = epoch(move.plan.fromShard)
        move.targetEpoch = epoch(move.plan.toShard)
        try control.setMoveEpochs(move.id, source: move.sourceEpoch!, target: move.targetEpoch!)
    }

    /// What the executor finds for `move` now: a rollback request, the window's end, and
    /// whether either shard failed over since the move recorded its epochs (the epochs live
    /// in the control store, so a successor after a crash sees a failover that happened
    /// while no executor ran).
    func circumstances(_ move: Move) throws(RuntimeError) -> MoveMachine.Circumstances {
        var found = MoveMachine.Circumstances(rollbackRequested: move.rollbackRequested)
        if let window = move.window { found.windowEnded = try control.nowMilliseconds() >= window.endMilliseconds }
        let shards = try control.shards()
        func failover(_ shard: ShardID, since before: Int64?) -> MoveMachine.Failover? {
            guard let before, let now = shards.first(where: { $0.shard == shard })?.epoch, now != before else { return nil }
            return MoveMachine.Failover(shard: shard, epochBefore: before, epochNow: now)
        }
        found.sourceFailover = failover(move.plan.fromShard, since: move.sourceEpoch)
        found.targetFailover = failover(move.plan.toShard, since: move.targetEpoch)
        return found
    }

    /// After a step failed: waits (up to `settleTimeout`) until either shard has failed over
    /// or both primaries answer again, and returns what is found then. A step broken by a
    /// zone's loss fails before the coordinator has promoted a successor; deciding at once
    /// would call it a plain failure.
    func settle(_ move: Move) throws(RuntimeError) -> MoveMachine.Circumstances {
        let deadline = ContinuousClock.now + settleTimeout
        while true {
            let current = try control.move(move.id) ?? move
            let found = try circumstances(current)
            if found != .calm || ContinuousClock.now >= deadline { return found }
            let reachable = [move.plan.fromShard, move.plan.toShard].allSatisfy { shard in
                guard let connection = try? primaryConnection(of: shard) else { return false }
                return (try? connection.query("SELECT 1")) != nil
            }
            if reachable { return found }
            usleep(250_000)
        }
    }

    /// After a target failover: whether the new target primary holds the move's
    /// subscription and applies the source's changes (a marker round trip within
    /// `subscriptionSurvivalTimeout`). The dead primary's walsender may still hold the slot
    /// on the source; it is ended so that the new primary's apply worker can take it.
    func subscriptionSurvives(_ run: inout Run) throws(RuntimeError) -> Bool {
        run.sides = nil
        run.preCheck = nil
        let deadline = ContinuousClock.now + subscriptionSurvivalTimeout
        while ContinuousClock.now < deadline {
            do throws(RuntimeError) {
                let sides = try sides(&run)
                guard try sql(sides.target, { () throws(PostgresError) in try sides.copy.subscriptionExists(on: sides.target) }) else {
                    return false
                }
                try sql(sides.source) { () throws(PostgresError) in try sides.copy.releaseSlotUnlessApplying(source: sides.source, target: sides.target) }
                try markerRoundTrip(&run, timeout: .seconds(5))
                return true
            } catch {
                run.sides = nil
                Thread.sleep(forTimeInterval: 1)
            }
        }
        return false
    }

    func sides(_ run: inout Run) throws(RuntimeError) -> Sides {
        if let sides = run.sides { return sides }
        let plan = run.move.plan
        let (source, sourcePort) = try primary(of: plan.fromShard)
        let (target, targetPort) = try primary(of: plan.toShard)
        let tables = plan.movingDatasets.flatMap { dataset in dataset.tables.map { (dataset.schema, $0) } }
        let sides = Sides(source: source, target: target, sourcePort: sourcePort, targetPort: targetPort,
                          copy: LogicalCopy(moveID: run.move.id, tenant: plan.tenant, tables: tables))
        run.sides = sides
        return sides
    }

    /// Does the step leading out of `phase`; `MoveMachine` says which phase that reaches.
    func step(_ run: inout Run, phase: MovePhase) throws(RuntimeError) {
        let plan = run.move.plan
        switch phase {
        case .planned:
            let sides = try sides(&run)
            let all = TenantSchema.tables(apps: topology.apps)
            try sql(sides.source) { () throws(PostgresError) in
                try MoveSchema.ensure(tables: all, on: sides.source)
                try sides.copy.createPublication(on: sides.source)
            }
            try sql(sides.target) { () throws(PostgresError) in
                try MoveSchema.ensure(tables: all, on: sides.target)
                try sides.copy.registerMovingIn(on: sides.target)
            }
            return
        case .prepared:
            try copyRows(&run)
            let sides = try sides(&run)
            var subscriber = data.settings(port: sides.sourcePort, applicationName: sides.copy.name)
            subscriber.statementTimeoutMilliseconds = 0
            try sql(sides.target) { () throws(PostgresError) in
                try sides.copy.createSubscription(on: sides.target, sourceConnectionString: subscriber.connectionString)
            }
            return
        case .copying:
            try waitForCopy(&run)
            let sides = try sides(&run)
            try sql(sides.target) { () throws(PostgresError) in try sides.copy.startTracking(on: sides.target) }
            return
        case .catchingUp:
            try waitUntilCaughtUp(&run, within: caughtUpRoundTrip)
            run.preCheck = try preCheck(&run)
            return
        case .preVerified:
            // The pre-check competed with the apply worker for the CPU; let the target catch
            // up again first, so the freeze does not wait for that backlog.
            try waitUntilCaughtUp(&run, within: freezeRoundTrip, giveUpAfter: .seconds(30))
            let sides = try sides(&run)
            if var check = run.preCheck {
                try sql(sides.target) { () throws(PostgresError) in
                    let early = try sides.copy.changedKeys(since: check.targetSnapshotID, on: sides.target)
                    for (name, schema, table) in movingTables(plan) {
                        let ids = early[name] ?? []
                        check.earlyKeys[name] = Set(ids)
                        check.earlySource[name] = try RowDigest.digest(schema: schema, table: table, tenant: plan.tenant, ids: ids, on: check.sourceSnapshot)
                        check.earlyTarget[name] = try RowDigest.digest(schema: schema, table: table, tenant: plan.tenant, ids: ids, on: check.targetSnapshot)
                    }
                }
                run.preCheck = check
            }
            run.freezeStarted = .now
            let ignoring = run.preCheck.map { [$0.sourcePID] } ?? []
            try sql(sides.source) { () throws(PostgresError) in
                try TenantFence.freeze(plan.tenant, schemas: plan.movingDatasets.map(\.schema), reason: "move \(run.move.id)",
                                       on: sides.source, timeout: freezeTimeout, ignoringBackends: ignoring)
            }
            run.freezeSteps.append(("fence", ContinuousClock.now - run.freezeStarted!))
            return
        case .frozen:
            try verify(&run)
            return
        case .verified:
            let sides = try sides(&run)
            try sql(sides.target) { () throws(PostgresError) in try TenantFence.unfreeze(plan.tenant, on: sides.target) }
            let tenant = try control.tenants().first { $0.id == plan.tenant }
            var appShards = tenant?.appShards ?? [:]
            for item in plan.items where item.decision == .notEligible { appShards[item.dataset.name] = item.shard }
            let frozenFor = run.freezeStarted.map { ContinuousClock.now - $0 }
            let switchStarted = ContinuousClock.now
            try control.switchMove(run.move, appShards: appShards, freezeMilliseconds: frozenFor?.inMilliseconds ?? -1)
            if let started = run.freezeStarted {
                let frozen = ContinuousClock.now - started
                run.freezeSteps.append(("switch", ContinuousClock.now - switchStarted))
                let steps = run.freezeSteps.map { "\($0.0) \($0.1.inMilliseconds) ms" }.joined(separator: ", ")
                try control.setMoveFreeze(run.move.id, milliseconds: frozen.inMilliseconds, steps: steps)
                observe(.note("writes of \(plan.tenant) were frozen for \(frozen.inMilliseconds) ms (\(steps))"))
            }
            return
        case .switched:
            let sides = try sides(&run)
            try dropReplication(sides)
            try sql(sides.target) { () throws(PostgresError) in try sides.copy.dropTracking(on: sides.target) }
            try sql(sides.source) { () throws(PostgresError) in try sides.copy.dropTracking(on: sides.source) }
            return
        case .retained:
            try purgeStep(run.move)
        case .rollingBack:
            let from = run.rollbackFrom ?? .rollingBack
            let undo: [MoveMachine.Undo]
            do {
                undo = try MoveMachine.undo(from: from)
            } catch {
                throw RuntimeError(.unavailable, error.description)
            }
            // Fresh connections to the shards' current primaries: what made the move roll
            // back (a failover, a broken connection) may have broken the old ones.
            run.preCheck = nil
            run.sides = nil
            let sides = try sides(&run)
            for action in undo {
                switch action {
                case .dropSubscription:
                    try dropReplication(sides, publication: false)
                case .unfreezeSource:
                    try sql(sides.source) { () throws(PostgresError) in try TenantFence.unfreeze(plan.tenant, on: sides.source) }
                case .deleteTargetRows:
                    try sql(sides.target) { () throws(PostgresError) in
                        try sides.copy.stopCopies(on: sides.target)
                        try sides.copy.deleteRows(on: sides.target)
                    }
                case .dropTracking:
                    try sql(sides.target) { () throws(PostgresError) in try sides.copy.dropTracking(on: sides.target) }
                    try sql(sides.source) { () throws(PostgresError) in try sides.copy.dropTracking(on: sides.source) }
                case .dropPublication:
                    try sql(sides.source) { () throws(PostgresError) in
                        try sides.copy.dropSlot(on: sides.source)
                        try sides.copy.dropPublication(on: sides.source)
                    }
                }
            }
            return
        case .purged, .rolledBack, .cancelled:
            preconditionFailure("an ended move has no step")
        }
    }

    /// Drops the subscription (and with it the slot) and, unless `publication` is false, the publication.
    func dropReplication(_ sides: Sides, publication: Bool = true) throws(RuntimeError) {
        try sql(sides.target) { () throws(PostgresError) in try sides.copy.dropSubscription(on: sides.target) }
        try sql(sides.source) { () throws(PostgresError) in
            try sides.copy.dropSlot(on: sides.source)
            if publication { try sides.copy.dropPublication(on: sides.source) }
        }
    }

    /// The initial copy: a fresh slot exporting its snapshot on the source, then every
    /// moving table's rows of the tenant in that snapshot, piped in binary COPY format into
    /// the target. Starts over (new slot, target rows deleted) when an earlier attempt left a
    /// slot behind, since its snapshot is gone with the process that held it.
    func copyRows(_ run: inout Run) throws(RuntimeError) {
        let sides = try sides(&run)
        let plan = run.move.plan
        try sql(sides.source) { () throws(PostgresError) in
            if try sides.copy.slotExists(on: sides.source) {
                try sides.copy.dropSubscription(on: sides.target)
                try sides.copy.dropSlot(on: sides.source)
                try sides.copy.stopCopies(on: sides.target)
                try sides.copy.deleteRows(on: sides.target)
            }
        }
        var source = data.settings(port: sides.sourcePort, applicationName: sides.copy.name)
        source.statementTimeoutMilliseconds = 0
        var target = data.settings(port: sides.targetPort, applicationName: sides.copy.name)
        target.statementTimeoutMilliseconds = 0
        let clock = ContinuousClock()
        let started = clock.now
        let tables = plan.items.filter { $0.decision != .notEligible }.flatMap { item in
            item.dataset.tables.map { SnapshotCopy.Table(schema: item.dataset.schema, table: $0, weight: item.bytes / Int64(item.dataset.tables.count)) }
        }
        let plannedRows = plan.movingRows
        let plannedBytes = max(plan.movingBytes, 1)
        let piped = Mutex<Int64>(0)
        let id = run.move.id
        let stop = Mutex(false)
        let copying = Mutex<Result<Int64, PostgresError>?>(nil)
        let copy = sides.copy
        let (sourceSettings, targetSettings, workers, sourcePort) = (source, target, copyWorkers, sides.sourcePort)
        // The slot, its snapshot and the copy run on a thread of their own, watched from here:
        // a source that stops answering (a partition, a failover) must not hang the move.
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
        var stoppedAt: ContinuousClock.Instant?
        let copiedRows: Int64
        while true {
            if let result = copying.withLock({ $0 }) {
                copiedRows = try sql(sides.source) { () throws(PostgresError) in try result.get() }
                break
            }
            usleep(200_000)
            let estimate = min(plannedRows, piped.withLock { $0 } * plannedRows / plannedBytes)
            if estimate > shown, clock.now - started >= .seconds(1) {
                shown = estimate
                try? control.setMoveProgress(id, copiedRows: estimate, lagBytes: nil)
                observe(.copying(copiedRows: estimate, plannedRows: plannedRows, lagBytes: nil))
            }
            if stoppedAt == nil, let reason = try? interruption(id) {
                stop.withLock { $0 = true }
                stoppedAt = clock.now
                observe(.note("stopping the copy: \(reason)"))
            }
            if let stoppedAt, clock.now - stoppedAt > .seconds(5) {
                // Stuck on a source that does not answer: left behind. It commits nothing
                // more (it asks `stop` before every buffer), and the rollback ends its
                // sessions on the target before deleting the copied rows.
                throw RuntimeError(.unavailable, "the copy was stopped and abandoned: its source does not answer")
            }
        }
        let elapsed = clock.now - started
        try control.setMoveCopy(run.move.id, milliseconds: max(elapsed.inMilliseconds, 1), bytes: plan.movingBytes)
        try control.setMoveProgress(run.move.id, copiedRows: copiedRows, lagBytes: nil)
        observe(.copying(copiedRows: copiedRows, plannedRows: plannedRows, lagBytes: nil))
        observe(.note("copied \(copiedRows) rows in \(elapsed.inMilliseconds) ms (\(copyWorkers) pipelines)"))
    }

    /// Waits until the subscription streams every table (PostgreSQL marks them ready at once,
    /// as it copies nothing itself) and reports no error.
    func waitForCopy(_ run: inout Run) throws(RuntimeError) {
        let sides = try sides(&run)
        let clock = ContinuousClock()
        let started = clock.now
        // Errors counted before this step (a target failover: the new primary's apply worker
        // waiting for the slot) are not this step's.
        let earlier = try sql(sides.target) { () throws(PostgresError) in try sides.copy.copyState(on: sides.target) }.errors
        while true {
            let state = try sql(sides.target) { () throws(PostgresError) in try sides.copy.copyState(on: sides.target) }
            if state.errors > earlier {
                throw RuntimeError(.unavailable, "the subscription reported \(state.errors - earlier) error(s) on the target (see its server log)")
            }
            if state.done { return }
            if clock.now - started > stallTimeout {
                throw RuntimeError(.unavailable, "the subscription has not started streaming within \(stallTimeout)")
            }
            try checkInterruption(run.move.id)
            usleep(50_000)
        }
    }

    /// Waits until a marker's round trip takes at most `within` (or, with `giveUpAfter`,
    /// until that much time has passed: then the freeze will simply wait longer).
    func waitUntilCaughtUp(_ run: inout Run, within: Duration, giveUpAfter: Duration? = nil) throws(RuntimeError) {
        let sides = try sides(&run)
        let started = ContinuousClock.now
        while true {
            let roundTrip = try markerRoundTrip(&run, timeout: .seconds(30))
            let lag = try? sides.copy.lagBytes(on: sides.source)
            try control.setMoveProgress(run.move.id, copiedRows: run.move.plan.movingRows, lagBytes: lag)
            observe(.catchingUp(roundTrip: roundTrip, lagBytes: lag))
            if roundTrip <= within { return }
            if let giveUpAfter, ContinuousClock.now - started > giveUpAfter { return }
            try checkInterruption(run.move.id)
        }
    }

    /// Inserts a marker on the source and waits until the target has it.
    @discardableResult
    func markerRoundTrip(_ run: inout Run, timeout: Duration) throws(RuntimeError) -> Duration {
        let sides = try sides(&run)
        run.markerSeq += 1
        let seq = run.markerSeq
        let clock = ContinuousClock()
        let started = clock.now
        try sql(sides.source) { () throws(PostgresError) in try sides.copy.insertMarker(seq, on: sides.source) }
        while try !sql(sides.target, { () throws(PostgresError) in try sides.copy.markerArrived(seq, on: sides.target) }) {
            if clock.now - started > timeout {
                throw RuntimeError(.unavailable, "the target has not applied the source's changes within \(timeout)")
            }
            usleep(2_000)
        }
        return clock.now - started
    }

    /// Throws when the step under way must stop: the top of `execute`'s loop then decides
    /// (roll back, or check a target failover).
    func checkInterruption(_ id: Int64) throws(RuntimeError) {
        if let reason = try interruption(id) { throw RuntimeError(.unavailable, reason) }
    }

    /// Why the step under way must stop, if it must: an operator asked for a rollback, its
    /// window ended before its switch, or one of its shards failed over.
    func interruption(_ id: Int64) throws(RuntimeError) -> String? {
        guard let move = try control.move(id) else { return nil }
        let found = try circumstances(move)
        switch MoveMachine.decide(move.phase, found) {
        case .redo, .ended: return nil
        case let .rollBack(reason): return reason
        case .checkSubscription: return "the target shard \(move.plan.toShard) failed over"
        }
    }

    // MARK: verification

    /// The tables that move, as `schema.table`.
    func movingTables(_ plan: MovePlan) -> [(name: String, schema: String, table: String)] {
        plan.movingDatasets.flatMap { dataset in dataset.tables.map { ("\(dataset.schema).\($0)", dataset.schema, $0) } }
    }

    /// Digests every moving table on the target (snapshot first) and then on the source,
    /// leaving both snapshots open for `verify`.
    func preCheck(_ run: inout Run) throws(RuntimeError) -> PreCheck {
        let plan = run.move.plan
        let (target, _) = try primary(of: plan.toShard)
        let (source, _) = try primary(of: plan.fromShard)
        return try sql(source) { () throws(PostgresError) in
            try RowDigest.prepare(target)
            try RowDigest.prepare(source)
            try target.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            let snapshot = try target.query("SELECT pg_current_snapshot()::text").scalar ?? ""
            try source.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            let pid = Int32(try source.query("SELECT pg_backend_pid()").scalar ?? "") ?? 0
            var check = PreCheck(sourceSnapshot: source, targetSnapshot: target, targetSnapshotID: snapshot, sourcePID: pid, source: [:], target: [:])
            for (name, schema, table) in movingTables(plan) {
                check.target[name] = try RowDigest.digest(schema: schema, table: table, tenant: plan.tenant, on: target)
                check.source[name] = try RowDigest.digest(schema: schema, table: table, tenant: plan.tenant, on: source)
            }
            return check
        }
    }

    /// Waits until the target has applied everything up to the freeze, then compares every
    /// table (see `MoveVerification`). Without a pre-check (a resumed move) it digests
    /// every row now, while the tenant is frozen.
    func verify(_ run: inout Run) throws(RuntimeError) {
        let plan = run.move.plan
        let sides = try sides(&run)
        run.freezeSteps.append(("apply", try markerRoundTrip(&run, timeout: freezeTimeout)))
        let tables = movingTables(plan)
        var source: [String: MoveVerification.Side] = [:]
        var target: [String: MoveVerification.Side] = [:]
        var changedRows = 0
        try sql(sides.target) { () throws(PostgresError) in
            try RowDigest.prepare(sides.source)
            try RowDigest.prepare(sides.target)
            if let check = run.preCheck {
                var clock = ContinuousClock.now
                func lap(_ name: String) {
                    run.freezeSteps.append((name, ContinuousClock.now - clock))
                    clock = .now
                }
                let changed = try sides.copy.changedKeys(since: check.targetSnapshotID, on: sides.target)
                changedRows = changed.values.map(\.count).reduce(0, +)
                lap("changed keys")
                var parts: [String: TableDigest] = [:]
                for (name, schema, table) in tables {
                    let late = (changed[name] ?? []).filter { !(check.earlyKeys[name] ?? []).contains($0) }
                    parts["s" + name] = try RowDigest.digest(schema: schema, table: table, tenant: plan.tenant, ids: late, on: check.sourceSnapshot)
                }
                lap("source late keys then")
                for (name, schema, table) in tables {
                    parts["t" + name] = try RowDigest.digest(schema: schema, table: table, tenant: plan.tenant, ids: (changed[name] ?? []).filter { !(check.earlyKeys[name] ?? []).contains($0) }, on: check.targetSnapshot)
                }
                lap("target late keys then")
                for (name, schema, table) in tables {
                    source[name] = MoveVerification.Side(
                        preCheck: check.source[name] ?? .empty, changedAtPreCheck: (check.earlySource[name] ?? .empty) + (parts["s" + name] ?? .empty),
                        changedNow: try RowDigest.digest(schema: schema, table: table, tenant: plan.tenant, ids: changed[name] ?? [], on: sides.source))
                }
                lap("source keys now")
                for (name, schema, table) in tables {
                    target[name] = MoveVerification.Side(
                        preCheck: check.target[name] ?? .empty, changedAtPreCheck: (check.earlyTarget[name] ?? .empty) + (parts["t" + name] ?? .empty),
                        changedNow: try RowDigest.digest(schema: schema, table: table, tenant: plan.tenant, ids: changed[name] ?? [], on: sides.target))
                }
                lap("target keys now")
                _ = try? check.sourceSnapshot.execute("COMMIT")
                _ = try? check.targetSnapshot.execute("COMMIT")
            } else {
                for (name, schema, table) in tables {
                    source[name] = MoveVerification.Side(preCheck: try RowDigest.digest(schema: schema, table: table, tenant: plan.tenant, on: sides.source))
                    target[name] = MoveVerification.Side(preCheck: try RowDigest.digest(schema: schema, table: table, tenant: plan.tenant, on: sides.target))
                }
            }
        }
        run.preCheck = nil
        let names = tables.map(\.name)
        let differences = MoveVerification.differences(tables: names, source: source, target: target)
        let rows = names.map { source[$0]?.now.count ?? 0 }.reduce(0, +)
        let summary = differences.isEmpty
            ? "\(names.count) tables, \(rows) rows: count and multiset hash equal on both sides (\(changedRows) rows changed after the pre-check re-hashed)"
            : "differences: " + differences.map(\.description).joined(separator: "; ")
        try control.setMoveVerification(run.move.id, summary)
        guard differences.isEmpty else {
            throw RuntimeError(.unavailable, "verification found \(differences.count) table(s) that differ: \(differences.map(\.table).joined(separator: ", "))")
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
        guard var move = try control.move(id) else { throw RuntimeError(.invalidInput, "unknown move \(id) (see residency move list)") }
        guard move.phase == .retained else {
            throw RuntimeError(.invalidInput, "move \(id) is \(move.phase.rawValue): only a retained source copy (phase retained) can be purged")
        }
        try purgeStep(move)
        try enter(&move, .purged)
        return try control.move(id) ?? move
    }

    func purgeStep(_ move: Move) throws(RuntimeError) {
        let plan = move.plan
        let (source, _) = try primary(of: plan.fromShard)
        let tables = movingTables(plan).map { ($0.schema, $0.table) }
        try sql(source) { () throws(PostgresError) in
            try LogicalCopy(moveID: move.id, tenant: plan.tenant, tables: tables).deleteRows(on: source)
        }
    }

    // MARK: plumbing

    func primary(of shard: ShardID) throws(RuntimeError) -> (Connection, Int) {
        let port = try control.primaryPort(of: shard).port
        return (try data.connect(port: port), port)
    }

    func primaryConnection(of shard: ShardID) throws(RuntimeError) -> Connection { try primary(of: shard).0 }

    @discardableResult
    func sql<T>(_ connection: Connection, _ body: () throws(PostgresError) -> T) throws(RuntimeError) -> T {
        do {
            return try body()
        } catch {
            throw RuntimeError(.unavailable, "\(connection.address): \(error)")
        }
    }
}
