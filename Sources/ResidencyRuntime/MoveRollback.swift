import ResidencyCore
import ResidencyPostgres

/// Undoes what a move created before its switch, in `MoveMachine.undo`'s order, on the
/// shards' current primaries. Every undo step is idempotent, so a rollback interrupted
/// anywhere simply runs again.
struct MoveRollback {
    let context: MoveContext

    func undo(_ steps: [MoveMachine.Undo], _ session: MoveSession) throws(RuntimeError) {
        // Fresh connections: what made the move roll back (a failover, a broken connection)
        // may have broken the old ones.
        session.forget()
        let sides = try session.sides()
        let tenant = session.plan.tenant
        for step in steps {
            switch step {
            case .dropSubscription:
                try MoveSwitcher(context: context).dropReplication(sides, publication: false)
            case .unfreezeSource:
                try context.sql(sides.source) { () throws(PostgresError) in try TenantFence.unfreeze(tenant, on: sides.source) }
            case .deleteTargetRows:
                try context.sql(sides.target) { () throws(PostgresError) in
                    try sides.copy.stopCopies(on: sides.target)
                    try sides.copy.deleteRows(on: sides.target)
                }
            case .dropTracking:
                try context.sql(sides.target) { () throws(PostgresError) in try sides.copy.dropTracking(on: sides.target) }
                try context.sql(sides.source) { () throws(PostgresError) in try sides.copy.dropTracking(on: sides.source) }
            case .dropPublication:
                try context.sql(sides.source) { () throws(PostgresError) in
                    try sides.copy.dropSlot(on: sides.source)
                    try sides.copy.dropPublication(on: sides.source)
                }
            }
        }
        // The role `prepare` created on the target (also when it crashed before the phase was recorded).
        try MovePurger(context: context).dropRoleUnlessHeld(tenant, shard: session.plan.toShard, on: sides.target)
    }
}
