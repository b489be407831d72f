import Foundation
import ResidencyCore
import ResidencyPostgres

/// The freeze, the switch and the cleanup after it. The switch is one control-store
/// transaction: the catalogue points at the target and the move is `switched` with its
/// retention date, so the source copy is a retained copy from that very moment.
struct MoveSwitcher {
    let context: MoveContext

    /// Fences the tenant's moving schemas on the source once its open transactions have
    /// ended (the pre-check's own read-only snapshot excepted), within `timeout`.
    func freeze(_ session: MoveSession, timeout: Duration) throws(RuntimeError) {
        let sides = try session.sides()
        let plan = session.plan
        session.freezeStarted = .now
        session.freezeSteps = []
        let ignoring = session.preCheck.map { [$0.sourcePID] } ?? []
        try context.sql(sides.source) { () throws(PostgresError) in
            try TenantFence.freeze(plan.tenant, schemas: plan.movingDatasets.map(\.schema), reason: "move \(session.move.id)",
                                   on: sides.source, timeout: timeout, ignoringBackends: ignoring)
        }
        session.freezeSteps.append(("fence", ContinuousClock.now - session.freezeStarted!))
    }

    /// Waits until everything applied on the target is on a standby of the target (the
    /// subscription applies without waiting for one: no acknowledged write may rest on one
    /// node when the routing changes), then switches the catalogue.
    func switchOver(_ session: MoveSession, barrierTimeout: Duration) throws(RuntimeError) {
        let sides = try session.sides()
        let plan = session.plan
        let barrierStarted = ContinuousClock.now
        try context.sql(sides.target) { () throws(PostgresError) in
            try TenantFence.unfreeze(plan.tenant, on: sides.target)
            try sides.copy.awaitStandby(on: sides.target, timeout: barrierTimeout)
        }
        session.freezeSteps.append(("standby", ContinuousClock.now - barrierStarted))
        let tenant = try context.control.tenants().first { $0.id == plan.tenant }
        var appShards = tenant?.appShards ?? [:]
        for item in plan.items where item.decision == .notEligible { appShards[item.dataset.name] = item.shard }
        let frozenFor = session.freezeStarted.map { ContinuousClock.now - $0 }
        let switchStarted = ContinuousClock.now
        try context.control.switchMove(session.move, appShards: appShards, freezeMilliseconds: frozenFor?.inMilliseconds ?? -1)
        if let started = session.freezeStarted {
            let frozen = ContinuousClock.now - started
            session.freezeSteps.append(("switch", ContinuousClock.now - switchStarted))
            let steps = session.freezeSteps.map { "\($0.0) \($0.1.inMilliseconds) ms" }.joined(separator: ", ")
            try? context.control.setMoveFreeze(session.move.id, milliseconds: frozen.inMilliseconds, steps: steps)
            context.observe(.note("writes of \(plan.tenant) were frozen for \(frozen.inMilliseconds) ms (\(steps))"))
        }
    }

    /// After the switch: subscription, slot, publication and change tracking dropped, on
    /// the shards' current primaries (idempotent: a failover of either shard in between
    /// only means doing it on the new primary).
    func cleanup(_ session: MoveSession) throws(RuntimeError) {
        let sides = try session.sides()
        try dropReplication(sides)
        try context.sql(sides.target) { () throws(PostgresError) in try sides.copy.dropTracking(on: sides.target) }
        try context.sql(sides.source) { () throws(PostgresError) in try sides.copy.dropTracking(on: sides.source) }
    }

    /// Drops the subscription (and with it the slot) and, unless `publication` is false, the publication.
    func dropReplication(_ sides: MoveSession.Sides, publication: Bool = true) throws(RuntimeError) {
        try context.sql(sides.target) { () throws(PostgresError) in try sides.copy.dropSubscription(on: sides.target) }
        try context.sql(sides.source) { () throws(PostgresError) in
            try sides.copy.dropSlot(on: sides.source)
            if publication { try sides.copy.dropPublication(on: sides.source) }
        }
    }
}
