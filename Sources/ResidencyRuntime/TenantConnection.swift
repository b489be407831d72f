import ResidencyCore
import ResidencyPostgres

/// The libpq connection string an application uses for a tenant: every node of the
/// tenant's shard (its region only), the current primary first, with
/// `target_session_attrs=read-write`, so that any libpq client finds the new primary after
/// a failover by itself. It logs in as the tenant's own role with the tenant's own passfile:
/// the session's identity is the tenant context.
public enum TenantConnection {
    public static func connectionString(
        tenant: TenantID, primary: NodeID, nodes: [(node: NodeID, port: Int)], passfile: String, connectTimeoutSeconds: Int = 2
    ) -> String {
        let ordered = nodes.filter { $0.node == primary } + nodes.filter { $0.node != primary }
        let pairs: [(String, String)] = [
            ("host", ordered.map { _ in "127.0.0.1" }.joined(separator: ",")),
            ("port", ordered.map { String($0.port) }.joined(separator: ",")),
            ("dbname", TenantSchema.database),
            ("user", TenantSchema.role(for: tenant)),
            ("passfile", passfile),
            ("target_session_attrs", "read-write"),
            ("connect_timeout", String(connectTimeoutSeconds)),
        ]
        return pairs.map { "\($0.0)=\(ConnectionSettings.quote($0.1))" }.joined(separator: " ")
    }

    /// The connection string for `tenant`, from the control store; for `app`'s data when
    /// given (an app that is not residency-eligible may have stayed on another shard).
    public static func connectionString(
        for tenant: TenantID, control: ControlStore, layout: StateDirectory.Layout, app: String? = nil
    ) throws(RuntimeError) -> String {
        guard let record = try control.tenants().first(where: { $0.id == tenant }) else {
            throw RuntimeError(.invalidInput, "unknown tenant '\(tenant)' (see residency tenant list)")
        }
        if let app, !record.apps.contains(app) {
            throw RuntimeError(.invalidInput, "tenant \(tenant) has no app '\(app)' (its apps: \(record.apps.isEmpty ? "none" : record.apps.joined(separator: ", ")))")
        }
        let shardID = app.flatMap { record.appShards[$0] } ?? record.shard
        guard let shard = try control.shards().first(where: { $0.shard == shardID }) else {
            throw RuntimeError(.unavailable, "shard \(shardID) of tenant \(tenant) is not in the control store")
        }
        let nodes = try control.nodes().filter { $0.node.shard == shardID }.map { ($0.node, $0.port) }
        return connectionString(tenant: tenant, primary: shard.primary, nodes: nodes, passfile: TenantCredentials(layout: layout).passfile(of: tenant))
    }
}
