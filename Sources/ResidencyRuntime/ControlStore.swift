import Foundation
import ResidencyCore
import ResidencyPostgres

/// The coordinator's state in the control database: the topology as `up` loaded it,
/// shards with their primaries and epochs, nodes, the tenant catalogue and the
/// append-only event log. Every user value reaches SQL as a parameter.
public final class ControlStore {
    public static let database = "residency"
    public static let schemaVersion = 1

    let connection: Connection

    public init(layout: StateDirectory.Layout, connectTimeoutSeconds: Int = 3) throws(RuntimeError) {
        do {
            connection = try Connection(Self.settings(layout, connectTimeoutSeconds: connectTimeoutSeconds))
        } catch {
            throw RuntimeError(.unavailable, "cannot reach the control server: \(error)")
        }
    }

    static func settings(_ layout: StateDirectory.Layout, database: String = database, connectTimeoutSeconds: Int = 3) -> ConnectionSettings {
        ConnectionSettings(
            port: layout.controlPort, database: database, user: LocalNodeManager.superuser, passfile: layout.passfile,
            connectTimeoutSeconds: connectTimeoutSeconds, applicationName: "residency-control")
    }

    /// The schema of the control database; every statement is idempotent.
    static let schema = """
        CREATE SCHEMA IF NOT EXISTS control;
        CREATE TABLE IF NOT EXISTS control.meta (key text PRIMARY KEY, value text NOT NULL);
        CREATE TABLE IF NOT EXISTS control.topology (
            id int PRIMARY KEY CHECK (id = 1),
            document text NOT NULL,
            loaded_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE IF NOT EXISTS control.shards (
            shard_id text PRIMARY KEY,
            region text NOT NULL,
            epoch bigint NOT NULL DEFAULT 1,
            primary_zone text NOT NULL
        );
        CREATE TABLE IF NOT EXISTS control.nodes (
            shard_id text NOT NULL REFERENCES control.shards,
            zone text NOT NULL,
            port int NOT NULL UNIQUE,
            created boolean NOT NULL DEFAULT false,
            PRIMARY KEY (shard_id, zone)
        );
        CREATE TABLE IF NOT EXISTS control.tenants (
            tenant_id text PRIMARY KEY,
            realm text NOT NULL,
            shard_id text NOT NULL REFERENCES control.shards,
            products text[] NOT NULL,
            apps text[] NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE IF NOT EXISTS control.events (
            id bigserial PRIMARY KEY,
            at timestamptz NOT NULL DEFAULT clock_timestamp(),
            kind text NOT NULL,
            shard_id text,
            epoch bigint,
            detail text NOT NULL DEFAULT ''
        );
        INSERT INTO control.meta (key, value) VALUES ('schema_version', '\(schemaVersion)') ON CONFLICT (key) DO NOTHING;
        """

    public func migrate() throws(RuntimeError) {
        try run { () throws(PostgresError) in try connection.execute(Self.schema) }
    }

    // MARK: topology

    /// The topology `up` created; `nil` before the first `up` recorded one.
    public func storedTopology() throws(RuntimeError) -> Topology? {
        let document = try run { () throws(PostgresError) in try connection.query("SELECT document FROM control.topology WHERE id = 1").scalar }
        guard let document else { return nil }
        do {
            return try JSONDecoder().decode(Topology.self, from: Data(document.utf8))
        } catch {
            throw RuntimeError(.unavailable, "the control database's topology document is unreadable: \(error)")
        }
    }

    /// The stored topology, or an error when `up` never completed its first step.
    public func requireTopology() throws(RuntimeError) -> Topology {
        guard let topology = try storedTopology() else {
            throw RuntimeError(.unavailable, "the control database holds no topology yet: run `residency up`")
        }
        return topology
    }

    /// Records a new topology: the document, its shards (primary in the first zone, epoch 1)
    /// and nodes (not yet created), in one transaction.
    public func recordNewTopology(_ topology: Topology) throws(RuntimeError) {
        let document: String
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            document = String(decoding: try encoder.encode(topology), as: UTF8.self)
        } catch {
            preconditionFailure("a topology always encodes: \(error)")
        }
        try transaction { () throws(PostgresError) in
            try connection.query("INSERT INTO control.topology (id, document) VALUES (1, $1)", [document])
            for region in topology.regions {
                for shard in region.shards {
                    try connection.query(
                        "INSERT INTO control.shards (shard_id, region, primary_zone) VALUES ($1, $2, $3)",
                        [shard.id.rawValue, region.id.rawValue, shard.zones[0].rawValue])
                }
                for (node, port) in region.nodePorts {
                    try connection.query(
                        "INSERT INTO control.nodes (shard_id, zone, port) VALUES ($1, $2, $3::int)",
                        [node.shard.rawValue, node.zone.rawValue, String(port)])
                }
            }
            try connection.query(
                "INSERT INTO control.events (kind, detail) VALUES ('topology.recorded', $1)",
                ["\(topology.shards.count) shards, \(topology.nodes.count) nodes"])
        }
    }

    // MARK: shards and nodes

    public struct ShardRecord: Sendable, Hashable {
        public let shard: ShardID
        public let region: RegionID
        public let epoch: Int64
        public let primary: NodeID
    }

    public struct NodeRecord: Sendable, Hashable {
        public let node: NodeID
        public let port: Int
        public let created: Bool
    }

    public func shards() throws(RuntimeError) -> [ShardRecord] {
        let result = try run { () throws(PostgresError) in
            try connection.query("SELECT shard_id, region, epoch, primary_zone FROM control.shards ORDER BY shard_id")
        }
        return result.rows.map { row in
            let shard = ShardID(row[0] ?? "")
            return ShardRecord(shard: shard, region: RegionID(row[1] ?? ""), epoch: Int64(row[2] ?? "") ?? 0,
                               primary: NodeID(shard: shard, zone: ZoneID(row[3] ?? "")))
        }
    }

    public func nodes() throws(RuntimeError) -> [NodeRecord] {
        let result = try run { () throws(PostgresError) in
            try connection.query("SELECT shard_id, zone, port, created FROM control.nodes ORDER BY shard_id, zone")
        }
        return result.rows.map { row in
            NodeRecord(node: NodeID(shard: ShardID(row[0] ?? ""), zone: ZoneID(row[1] ?? "")),
                       port: Int(row[2] ?? "") ?? 0, created: row[3] == "t")
        }
    }

    public func setCreated(_ node: NodeID, _ created: Bool) throws(RuntimeError) {
        try run { () throws(PostgresError) in
            try connection.query(
                "UPDATE control.nodes SET created = $3::boolean WHERE shard_id = $1 AND zone = $2",
                [node.shard.rawValue, node.zone.rawValue, created ? "true" : "false"])
        }
    }

    // MARK: tenants

    public func tenants() throws(RuntimeError) -> [Tenant] {
        let result = try run { () throws(PostgresError) in
            try connection.query("""
                SELECT tenant_id, realm, shard_id, array_to_string(products, ','), array_to_string(apps, ','),
                       to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                FROM control.tenants ORDER BY tenant_id
                """)
        }
        return result.rows.compactMap { row in
            guard let tenant = TenantID(validating: row[0] ?? "") else { return nil }
            func list(_ text: String?) -> [String] { (text ?? "").split(separator: ",").map(String.init) }
            return Tenant(id: tenant, realm: RealmID(row[1] ?? ""), shard: ShardID(row[2] ?? ""),
                                products: list(row[3]), apps: list(row[4]), createdAt: row[5] ?? "")
        }
    }

    /// Tenants per shard, for placement.
    public func tenantCounts() throws(RuntimeError) -> [ShardID: Int] {
        let result = try run { () throws(PostgresError) in
            try connection.query("SELECT shard_id, count(*) FROM control.tenants GROUP BY shard_id")
        }
        var counts: [ShardID: Int] = [:]
        for row in result.rows { counts[ShardID(row[0] ?? "")] = Int(row[1] ?? "") ?? 0 }
        return counts
    }

    /// Inserts the catalogue entry inside a transaction, runs `thenOnData` (the tenant's rows
    /// on its shard), and commits only if that succeeded.
    public func insertTenant(_ record: Tenant, thenOnData: () throws(RuntimeError) -> Void) throws(RuntimeError) {
        try transaction { () throws(RuntimeError) in
            do throws(PostgresError) {
                try connection.query(
                    "INSERT INTO control.tenants (tenant_id, realm, shard_id, products, apps) VALUES ($1, $2, $3, string_to_array($4, ','), string_to_array($5, ','))",
                    [record.id.rawValue, record.realm.rawValue, record.shard.rawValue,
                     record.products.joined(separator: ","), record.apps.joined(separator: ",")])
                try connection.query(
                    "INSERT INTO control.events (kind, shard_id, detail) VALUES ('tenant.created', $1, $2)",
                    [record.shard.rawValue, "tenant \(record.id) pinned to \(record.realm)"])
            } catch {
                if error.sqlState == "23505" {
                    throw RuntimeError(.invalidInput, "tenant '\(record.id)' already exists")
                }
                throw RuntimeError(.unavailable, "cannot record tenant '\(record.id)': \(error)")
            }
            try thenOnData()
        }
    }

    // MARK: events

    public func appendEvent(kind: String, shard: ShardID? = nil, epoch: Int64? = nil, detail: String) throws(RuntimeError) {
        try run { () throws(PostgresError) in
            try connection.query(
                "INSERT INTO control.events (kind, shard_id, epoch, detail) VALUES ($1, $2, $3::bigint, $4)",
                [kind, shard?.rawValue, epoch.map(String.init), detail])
        }
    }

    // MARK: plumbing

    private func run<T>(_ body: () throws(PostgresError) -> T) throws(RuntimeError) -> T {
        do {
            return try body()
        } catch {
            throw RuntimeError(.unavailable, "control database: \(error)")
        }
    }

    private func transaction<E: Error>(_ body: () throws(E) -> Void) throws(RuntimeError) {
        try run { () throws(PostgresError) in try connection.execute("BEGIN") }
        do {
            try body()
        } catch {
            try? connection.execute("ROLLBACK")
            if let error = error as? RuntimeError { throw error }
            throw RuntimeError(.unavailable, "control database: \(error)")
        }
        try run { () throws(PostgresError) in try connection.execute("COMMIT") }
    }
}
