import ResidencyCore
import ResidencyPostgres

/// Counts every tenant's rows per schema on every node (primaries and standbys alike: a
/// standby's copy is a copy), for `residency report residency`.
public struct RowCensus {
    public let holdings: [ResidencyAudit.Holding]
    /// Nodes that could not be counted (down, held): their copies are unknown.
    public let unreachable: [(node: NodeID, error: String)]

    public static func take(layout: StateDirectory.Layout, control: ControlStore, topology: Topology) throws(RuntimeError) -> RowCensus {
        let data = DataNodes(layout: layout)
        let tables = TenantSchema.tables(apps: topology.apps)
        var holdings: [ResidencyAudit.Holding] = []
        var unreachable: [(NodeID, String)] = []
        for node in try control.nodes() where node.created {
            do {
                let connection = try Connection(data.settings(port: node.port, connectTimeoutSeconds: 2, applicationName: "residency-census"))
                var rows: [TenantID: [String: Int64]] = [:]
                for (schema, table) in tables {
                    let exists = try connection.query("SELECT to_regclass($1) IS NOT NULL", ["\(SQLText.identifier(schema)).\(SQLText.identifier(table))"]).scalar == "t"
                    guard exists else { continue }
                    for row in try connection.query("SELECT tenant_id, count(*) FROM \(SQLText.identifier(schema)).\(SQLText.identifier(table)) GROUP BY tenant_id").rows {
                        guard let tenant = TenantID(validating: row[0] ?? ""), let count = Int64(row[1] ?? "") else { continue }
                        rows[tenant, default: [:]][schema, default: 0] += count
                    }
                }
                for (tenant, schemas) in rows {
                    for (schema, count) in schemas where count > 0 {
                        holdings.append(ResidencyAudit.Holding(node: node.node, tenant: tenant, schema: schema, rows: count))
                    }
                }
            } catch {
                unreachable.append((node.node, error.description))
            }
        }
        return RowCensus(holdings: holdings, unreachable: unreachable)
    }
}
