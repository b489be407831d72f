import ResidencyCore
import ResidencyPostgres

/// Connections to a topology's data nodes, as the superuser or as a service role.
public struct DataNodes: Sendable {
    public let layout: StateDirectory.Layout

    public init(layout: StateDirectory.Layout) { self.layout = layout }

    /// Settings for the node on `port`; `database` defaults to the tenant database.
    public func settings(
        port: Int, database: String = TenantSchema.database, user: String = LocalNodeManager.superuser,
        connectTimeoutSeconds: Int = 5, applicationName: String = "residency"
    ) -> ConnectionSettings {
        ConnectionSettings(
            port: port, database: database, user: user, passfile: layout.passfile,
            connectTimeoutSeconds: connectTimeoutSeconds, applicationName: applicationName)
    }

    /// Settings for the node on `port` as one of the tool's service roles.
    public func settings(port: Int, role: ServiceRole, connectTimeoutSeconds: Int = 5, applicationName: String = "residency") -> ConnectionSettings {
        settings(port: port, user: role.name, connectTimeoutSeconds: connectTimeoutSeconds, applicationName: applicationName)
    }

    public func connect(port: Int, database: String = TenantSchema.database, user: String = LocalNodeManager.superuser)
        throws(RuntimeError) -> Connection
    {
        do {
            return try Connection(settings(port: port, database: database, user: user))
        } catch {
            throw RuntimeError(.unavailable, "cannot reach the server on port \(port): \(error)")
        }
    }
}
