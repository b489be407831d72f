import ResidencyCore
import ResidencyPostgres

/// Deletes source copies that switched moves retained, and makes sure a move's target
/// holds none of the tenant's rows before the move is recorded.
struct MovePurger {
    let context: MoveContext

    /// Deletes the tenant's rows of the moved datasets on the source shard's current primary,
    /// and the tenant's role there when nothing of the tenant stays on that shard.
    func deleteSourceCopy(of move: Move) throws(RuntimeError) {
        let (source, _) = try context.primary(of: move.plan.fromShard)
        let tables = move.plan.movingDatasets.flatMap { dataset in dataset.tables.map { (dataset.schema, $0) } }
        try context.sql(source) { () throws(PostgresError) in
            try LogicalCopy(moveID: move.id, tenant: move.plan.tenant, tables: tables).deleteRows(on: source)
        }
        try dropRoleUnlessHeld(move.plan.tenant, shard: move.plan.fromShard, on: source)
    }

    /// Drops `tenant`'s role on `shard` (connected through `connection`) unless the catalogue
    /// says some of the tenant's data lives there.
    func dropRoleUnlessHeld(_ tenant: TenantID, shard: ShardID, on connection: Connection) throws(RuntimeError) {
        guard let record = try context.control.tenants().first(where: { $0.id == tenant }), !record.shards.contains(shard) else { return }
        try TenantCredentials(layout: context.data.layout).remove(tenant, on: connection)
    }

    /// Rows of `tenant` in `datasets` on `connection`.
    func tenantRows(_ tenant: TenantID, datasets: [Dataset], on connection: Connection) throws(RuntimeError) -> Int64 {
        var total: Int64 = 0
        for dataset in datasets {
            for table in dataset.tables {
                total += try context.sql(connection) { () throws(PostgresError) in
                    Int64(try connection.query("SELECT count(*) FROM \(SQLText.identifier(dataset.schema)).\(SQLText.identifier(table)) WHERE tenant_id = $1",
                                               [tenant.rawValue]).scalar ?? "") ?? 0
                }
            }
        }
        return total
    }
}
