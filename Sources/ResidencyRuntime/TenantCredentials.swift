import Foundation
import ResidencyCore
import ResidencyPostgres

/// Each tenant's own login: a role on every node of each shard holding its data
/// (`TenantSchema.role(for:)`, created on the shard's primary, which replicates it to the
/// standbys) and a random password kept in a passfile of its own, mode 0600, under the
/// topology's data root (`tenants/NAME.pgpass`). `conninfo --tenant T` names only that
/// file. The password reaches servers only as a SCRAM verifier computed on the client.
public struct TenantCredentials: Sendable {
    public let layout: StateDirectory.Layout

    public init(layout: StateDirectory.Layout) { self.layout = layout }

    public var directory: String { layout.dataRoot + "/tenants" }

    public func passfile(of tenant: TenantID) -> String { directory + "/\(tenant.rawValue).pgpass" }

    public func role(of tenant: TenantID) -> String { TenantSchema.role(for: tenant) }

    /// The tenant's password, from its passfile.
    public func password(of tenant: TenantID) throws(RuntimeError) -> String {
        let path = passfile(of: tenant)
        guard let password = PrivateFile.passwords(inPassfile: path)?[role(of: tenant)] else {
            throw RuntimeError(.unavailable, "cannot read tenant \(tenant)'s passfile \(path) (rotate it with: residency tenant credentials \(tenant) --rotate)")
        }
        return password
    }

    /// Writes a new random password into the tenant's passfile (mode 0600) and returns it.
    func generate(for tenant: TenantID) throws(RuntimeError) -> String {
        let password = Secrets.randomPassword()
        try write(password, for: tenant)
        return password
    }

    func write(_ password: String, for tenant: TenantID) throws(RuntimeError) {
        try PrivateFile.makeDirectory(directory)
        try PrivateFile.write("127.0.0.1:*:\(TenantSchema.database):\(role(of: tenant)):\(password)\n", to: passfile(of: tenant))
    }

    /// Creates the tenant's role with `password` on the server of `connection` (a superuser
    /// connection to a primary's tenant database), or gives an existing one that password.
    func install(_ tenant: TenantID, password: String, on connection: Connection) throws(RuntimeError) {
        do {
            let verifier = try connection.scramVerifier(password: password, role: role(of: tenant))
            try TenantSchema.ensureRole(tenant, verifier: verifier, on: connection)
        } catch {
            throw RuntimeError(.unavailable, "cannot create the role of tenant \(tenant) on \(connection.address): \(error)")
        }
    }

    /// Creates the tenant's role on the server of `connection` with the password of its passfile.
    func install(_ tenant: TenantID, on connection: Connection) throws(RuntimeError) {
        try install(tenant, password: try password(of: tenant), on: connection)
    }

    /// Drops the tenant's role from the server of `connection`.
    func remove(_ tenant: TenantID, on connection: Connection) throws(RuntimeError) {
        do {
            try TenantSchema.dropRole(tenant, on: connection)
        } catch {
            throw RuntimeError(.unavailable, "cannot drop the role of tenant \(tenant) on \(connection.address): \(error)")
        }
    }

    /// Settings for a session as the tenant, on the node on `port`.
    public func settings(_ tenant: TenantID, port: Int, connectTimeoutSeconds: Int = 5) -> ConnectionSettings {
        ConnectionSettings(
            port: port, database: TenantSchema.database, user: role(of: tenant), passfile: passfile(of: tenant),
            connectTimeoutSeconds: connectTimeoutSeconds, applicationName: "residency")
    }

    /// A session as the tenant on the node on `port`.
    public func connect(_ tenant: TenantID, port: Int) throws(RuntimeError) -> Connection {
        do {
            return try Connection(settings(tenant, port: port))
        } catch {
            throw RuntimeError(.unavailable, "cannot connect as tenant \(tenant) to the server on port \(port): \(error)")
        }
    }

    /// A new password for `tenant` on the primaries of `shards` (each shard holding its
    /// data), then in its passfile. Sessions already open stay; new ones need the new
    /// password. No other tenant's role or file is touched.
    /// When a shard refuses, the shards already changed get the old password back (as far
    /// as they answer) and the passfile stays as it was.
    public func rotate(_ tenant: TenantID, shards: [ShardID], control: ControlStore, data: DataNodes) throws(RuntimeError) {
        let old = try? password(of: tenant)
        let password = Secrets.randomPassword()
        var changed: [Connection] = []
        do throws(RuntimeError) {
            for shard in shards {
                let (_, port) = try control.primaryPort(of: shard)
                let connection = try data.connect(port: port)
                try install(tenant, password: password, on: connection)
                changed.append(connection)
            }
            try write(password, for: tenant)
        } catch {
            if let old { for connection in changed { try? install(tenant, password: old, on: connection) } }
            throw error
        }
    }
}
