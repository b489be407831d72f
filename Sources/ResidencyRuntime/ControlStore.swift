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

    /// As the control role, which owns the control database (the superuser only where `up`
    /// creates it).
    static func settings(_ layout: StateDirectory.Layout, database: String = database, user: String = ServiceRole.control.name,
                         connectTimeoutSeconds: Int = 3) -> ConnectionSettings {
        ConnectionSettings(
            port: layout.controlPort, database: database, user: user, passfile: layout.passfile,
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
        ALTER TABLE control.shards ADD COLUMN IF NOT EXISTS synchronous_standbys text[] NOT NULL DEFAULT '{}';
        ALTER TABLE control.nodes ADD COLUMN IF NOT EXISTS needs_rewind boolean NOT NULL DEFAULT false;
        ALTER TABLE control.events ADD COLUMN IF NOT EXISTS from_node text;
        ALTER TABLE control.events ADD COLUMN IF NOT EXISTS to_node text;
        ALTER TABLE control.events ADD COLUMN IF NOT EXISTS duration_ms bigint;
        CREATE TABLE IF NOT EXISTS control.lease (
            id int PRIMARY KEY CHECK (id = 1),
            holder text NOT NULL DEFAULT '',
            token bigint NOT NULL DEFAULT 0,
            expires_at timestamptz NOT NULL DEFAULT '-infinity'
        );
        INSERT INTO control.lease (id) VALUES (1) ON CONFLICT (id) DO NOTHING;
        CREATE TABLE IF NOT EXISTS control.held_zones (
            zone text PRIMARY KEY,
            mode text NOT NULL,
            since timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE IF NOT EXISTS control.operations (
            shard_id text PRIMARY KEY REFERENCES control.shards,
            kind text NOT NULL,
            from_zone text NOT NULL,
            to_zone text NOT NULL,
            epoch bigint NOT NULL,
            standbys text[] NOT NULL,
            step text NOT NULL,
            started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
        );
        CREATE TABLE IF NOT EXISTS control.requests (
            id bigserial PRIMARY KEY,
            kind text NOT NULL,
            shard_id text NOT NULL,
            zone text NOT NULL,
            requested_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            state text NOT NULL DEFAULT 'pending',
            answer text NOT NULL DEFAULT ''
        );
        ALTER TABLE control.tenants ADD COLUMN IF NOT EXISTS app_shards text[] NOT NULL DEFAULT '{}';
        CREATE TABLE IF NOT EXISTS control.moves (
            id bigserial PRIMARY KEY,
            tenant_id text NOT NULL,
            phase text NOT NULL,
            plan text NOT NULL,
            retention_days int NOT NULL,
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            switched_at timestamptz,
            retain_until timestamptz,
            copied_rows bigint NOT NULL DEFAULT 0,
            lag_bytes bigint,
            copy_ms bigint,
            copy_bytes bigint,
            freeze_ms bigint,
            reason text NOT NULL DEFAULT '',
            rollback_requested text,
            verification text NOT NULL DEFAULT ''
        );
        ALTER TABLE control.moves ADD COLUMN IF NOT EXISTS window_start_ms bigint;
        ALTER TABLE control.moves ADD COLUMN IF NOT EXISTS window_ms bigint;
        ALTER TABLE control.moves ADD COLUMN IF NOT EXISTS source_epoch bigint;
        ALTER TABLE control.moves ADD COLUMN IF NOT EXISTS target_epoch bigint;
        ALTER TABLE control.moves ADD COLUMN IF NOT EXISTS heartbeat_at timestamptz DEFAULT clock_timestamp();
        ALTER TABLE control.moves ADD COLUMN IF NOT EXISTS catch_up_limit_ms bigint;
        ALTER TABLE control.moves ADD COLUMN IF NOT EXISTS written_bps bigint;
        ALTER TABLE control.moves ADD COLUMN IF NOT EXISTS applied_bps bigint;
        ALTER TABLE control.moves ADD COLUMN IF NOT EXISTS eta_ms bigint;
        DROP INDEX IF EXISTS control.moves_one_open_per_tenant;
        CREATE UNIQUE INDEX moves_one_open_per_tenant ON control.moves (tenant_id) WHERE phase NOT IN (\(MovePhase.closedSQLList));
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

    /// Records a new topology: the document, its shards (primary in `primaryZone`, epoch 1)
    /// and nodes (not yet created), in one transaction.
    static func document(_ topology: Topology) -> String {
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            return String(decoding: try encoder.encode(topology), as: UTF8.self)
        } catch {
            preconditionFailure("a topology always encodes: \(error)")
        }
    }

    /// Replaces the stored document by `topology`, whose facts (regions, shards, zones,
    /// ports, realms, apps) are the stored ones: settings that may change under a running
    /// topology (`backups`, service levels) take effect. Returns whether it changed.
    @discardableResult
    public func refreshTopologyDocument(_ topology: Topology) throws(RuntimeError) -> Bool {
        let document = Self.document(topology)
        return try run { () throws(PostgresError) in
            try connection.query("UPDATE control.topology SET document = $1 WHERE id = 1 AND document IS DISTINCT FROM $1 RETURNING 1", [document])
        }.rows.isEmpty == false
    }

    public func recordNewTopology(_ topology: Topology) throws(RuntimeError) {
        let document = Self.document(topology)
        try transaction { () throws(PostgresError) in
            try connection.query("INSERT INTO control.topology (id, document) VALUES (1, $1)", [document])
            for region in topology.regions {
                for shard in region.shards {
                    try connection.query(
                        "INSERT INTO control.shards (shard_id, region, primary_zone, synchronous_standbys) VALUES ($1, $2, $3, string_to_array($4, ','))",
                        [shard.id.rawValue, region.id.rawValue, shard.primaryZone.rawValue,
                         shard.zones.filter { $0 != shard.primaryZone }.map(\.rawValue).joined(separator: ",")])
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
        /// The standbys named in the primary's `synchronous_standby_names`.
        public let synchronousStandbys: [NodeID]
    }

    public struct NodeRecord: Sendable, Hashable {
        public let node: NodeID
        public let port: Int
        public let created: Bool
        /// A former primary that must be rewound before it may stream again.
        public let needsRewind: Bool
    }

    public func shards() throws(RuntimeError) -> [ShardRecord] {
        let result = try run { () throws(PostgresError) in
            try connection.query("SELECT shard_id, region, epoch, primary_zone, array_to_string(synchronous_standbys, ',') FROM control.shards ORDER BY shard_id")
        }
        return result.rows.map { row in
            let shard = ShardID(row[0] ?? "")
            return ShardRecord(shard: shard, region: RegionID(row[1] ?? ""), epoch: Int64(row[2] ?? "") ?? 0,
                               primary: NodeID(shard: shard, zone: ZoneID(row[3] ?? "")),
                               synchronousStandbys: (row[4] ?? "").split(separator: ",").map { NodeID(shard: shard, zone: ZoneID(String($0))) })
        }
    }

    public func nodes() throws(RuntimeError) -> [NodeRecord] {
        let result = try run { () throws(PostgresError) in
            try connection.query("SELECT shard_id, zone, port, created, needs_rewind FROM control.nodes ORDER BY shard_id, zone")
        }
        return result.rows.map { row in
            NodeRecord(node: NodeID(shard: ShardID(row[0] ?? ""), zone: ZoneID(row[1] ?? "")),
                       port: Int(row[2] ?? "") ?? 0, created: row[3] == "t", needsRewind: row[4] == "t")
        }
    }

    /// The recorded primary of `shard` and its port; throws when the store has none.
    public func primaryPort(of shard: ShardID) throws(RuntimeError) -> (node: NodeID, port: Int) {
        guard let primary = try shards().first(where: { $0.shard == shard })?.primary,
              let port = try nodes().first(where: { $0.node == primary })?.port
        else {
            throw RuntimeError(.unavailable, "shard \(shard) has no recorded primary")
        }
        return (primary, port)
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
                       to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), array_to_string(app_shards, ',')
                FROM control.tenants ORDER BY tenant_id
                """)
        }
        return result.rows.compactMap { row in
            guard let tenant = TenantID(validating: row[0] ?? "") else { return nil }
            func list(_ text: String?) -> [String] { (text ?? "").split(separator: ",").map(String.init) }
            var appShards: [String: ShardID] = [:]
            for pair in list(row[6]) {
                let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                if parts.count == 2 { appShards[parts[0]] = ShardID(parts[1]) }
            }
            return Tenant(id: tenant, realm: RealmID(row[1] ?? ""), shard: ShardID(row[2] ?? ""),
                          products: list(row[3]), apps: list(row[4]), createdAt: row[5] ?? "", appShards: appShards)
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

    /// Removes the catalogue entry of a tenant whose data is gone; its retained move
    /// copies (deleted with it) are recorded as purged. One transaction.
    public func deleteTenant(_ tenant: TenantID) throws(RuntimeError) {
        try transaction { () throws(RuntimeError) in
            try run { () throws(PostgresError) in
                try connection.query("""
                    UPDATE control.moves SET phase = 'purged', reason = 'tenant deleted' WHERE tenant_id = $1 AND phase = 'retained'
                    """, [tenant.rawValue])
                try connection.query("DELETE FROM control.tenants WHERE tenant_id = $1", [tenant.rawValue])
                try connection.query("INSERT INTO control.events (kind, detail) VALUES ('tenant.deleted', $1)", ["tenant \(tenant) and all its data deleted"])
            }
        }
    }

    // MARK: events

    public func appendEvent(kind: String, shard: ShardID? = nil, epoch: Int64? = nil, detail: String) throws(RuntimeError) {
        try appendEvent(CoordinatorRecord(kind: kind, shard: shard, epoch: epoch, detail: detail))
    }

    /// Appends one record; `at` is when it happened (default: now, by the control server's clock).
    public func appendEvent(_ record: CoordinatorRecord, duration: Duration? = nil, at: Date? = nil) throws(RuntimeError) {
        try run { () throws(PostgresError) in
            try connection.query(
                """
                INSERT INTO control.events (kind, shard_id, epoch, from_node, to_node, duration_ms, detail, at)
                VALUES ($1, $2, $3::bigint, $4, $5, $6::bigint, $7, coalesce(to_timestamp($8::double precision), now()))
                """,
                [record.kind, record.shard?.rawValue, record.epoch.map(String.init), record.from?.description, record.to?.description,
                 duration.map { String($0.inMilliseconds) }, record.detail, at.map { String($0.timeIntervalSince1970) }])
        }
    }

    /// Appends `entries` in one transaction (one commit for a whole decision step).
    public func appendEvents(_ entries: [EventEntry]) throws(RuntimeError) {
        guard entries.count > 1 else {
            if let entry = entries.first { try appendEvent(entry.record, duration: entry.duration, at: entry.at) }
            return
        }
        try transaction { () throws(RuntimeError) in
            for entry in entries { try appendEvent(entry.record, duration: entry.duration, at: entry.at) }
        }
    }

    /// One row of the event log.
    public struct EventRow: Sendable, Hashable {
        public let id: Int64
        public let at: String
        public let kind: String
        public let shard: String?
        public let epoch: Int64?
        public let from: String?
        public let to: String?
        public let durationMilliseconds: Int64?
        public let detail: String
    }

    /// The last `limit` events, oldest first.
    public func events(limit: Int = 1000) throws(RuntimeError) -> [EventRow] {
        let result = try run { () throws(PostgresError) in
            try connection.query("""
                SELECT id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), kind, shard_id, epoch, from_node, to_node, duration_ms, detail
                FROM (SELECT * FROM control.events ORDER BY id DESC LIMIT $1::int) e ORDER BY id
                """, [String(limit)])
        }
        return result.rows.map { row in
            EventRow(id: Int64(row[0] ?? "") ?? 0, at: row[1] ?? "", kind: row[2] ?? "", shard: row[3], epoch: row[4].flatMap { Int64($0) },
                     from: row[5], to: row[6], durationMilliseconds: row[7].flatMap { Int64($0) }, detail: row[8] ?? "")
        }
    }

    // MARK: lease

    /// Takes the lease, or renews it when `holder` has it; returns the token, or `nil` when
    /// another holder's lease has not expired. The token grows with every new holder.
    public func acquireLease(holder: String, ttl: Duration) throws(RuntimeError) -> Int64? {
        let result = try run { () throws(PostgresError) in
            try connection.query("""
                UPDATE control.lease SET
                    token = CASE WHEN holder = $1 THEN token ELSE token + 1 END,
                    holder = $1,
                    expires_at = clock_timestamp() + make_interval(secs => $2::double precision / 1000)
                WHERE id = 1 AND (holder = $1 OR expires_at <= clock_timestamp())
                RETURNING token
                """, [holder, String(ttl.inMilliseconds)])
        }
        return result.scalar.flatMap { Int64($0) }
    }

    /// Who holds the lease and until when; `nil` when nobody holds an unexpired one.
    public func leaseHolder() throws(RuntimeError) -> (holder: String, expiresAt: String)? {
        let row = try run { () throws(PostgresError) in
            try connection.query("""
                SELECT holder, to_char(expires_at AT TIME ZONE 'UTC', 'HH24:MI:SS.MS"Z"') FROM control.lease
                WHERE id = 1 AND expires_at > clock_timestamp()
                """).rows.first
        }
        guard let row else { return nil }
        return (row[0] ?? "", row[1] ?? "")
    }

    /// Gives the lease up at once (a clean coordinator exit), if `token` still holds it.
    public func releaseLease(token: Int64) throws(RuntimeError) {
        try run { () throws(PostgresError) in
            try connection.query("UPDATE control.lease SET expires_at = '-infinity' WHERE id = 1 AND token = $1::bigint", [String(token)])
        }
    }

    /// SQL condition: the lease is held, unexpired, under the token in `$1`.
    static let leaseHeld = "EXISTS (SELECT 1 FROM control.lease WHERE id = 1 AND token = $1::bigint AND expires_at > clock_timestamp())"

    /// A journaled write: `sql` takes the token as `$1`, checks `leaseHeld` in the same
    /// statement and returns a row when it wrote. Throws `notLeader` otherwise, so the
    /// caller never acts on a node after a stale write.
    func journaled(_ sql: String, token: Int64, _ parameters: [String?]) throws(RuntimeError) {
        let result = try run { () throws(PostgresError) in try connection.query(sql, [String(token)] + parameters) }
        guard !result.rows.isEmpty else { throw RuntimeError.notLeader(token) }
    }

    /// A lease-checked no-op: proves leadership right before acting on a node.
    public func checkLease(token: Int64) throws(RuntimeError) {
        try journaled("SELECT 1 WHERE \(Self.leaseHeld)", token: token, [])
    }

    // MARK: operations (the coordinator's journal)

    /// Records that `operation` is at its current step: the intent, before acting.
    public func journal(_ operation: ShardOperation, token: Int64) throws(RuntimeError) {
        try journaled("""
            INSERT INTO control.operations AS o (shard_id, kind, from_zone, to_zone, epoch, standbys, step)
            SELECT $2, $3, $4, $5, $6::bigint, string_to_array($7, ','), $8 WHERE \(Self.leaseHeld)
            ON CONFLICT (shard_id) DO UPDATE SET step = EXCLUDED.step, updated_at = clock_timestamp()
                WHERE o.epoch = EXCLUDED.epoch AND o.to_zone = EXCLUDED.to_zone
            RETURNING 1
            """, token: token, [operation.shard.rawValue, operation.kind.rawValue, operation.from.zone.rawValue, operation.to.zone.rawValue,
                                String(operation.epoch), operation.standbys.map(\.zone.rawValue).joined(separator: ","), operation.step.rawValue])
    }

    /// Closes the operation (it is done). Idempotent.
    public func finish(_ operation: ShardOperation, token: Int64) throws(RuntimeError) {
        try checkLease(token: token)
        try run { () throws(PostgresError) in
            try connection.query("DELETE FROM control.operations WHERE shard_id = $1 AND epoch = $2::bigint",
                                 [operation.shard.rawValue, String(operation.epoch)])
        }
    }

    /// Rule 3: the new epoch and primary, recorded before any promotion. Idempotent.
    public func bumpEpoch(_ operation: ShardOperation, token: Int64) throws(RuntimeError) {
        try journaled("""
            UPDATE control.shards SET epoch = $3::bigint, primary_zone = $4, synchronous_standbys = string_to_array($5, ',')
            WHERE shard_id = $2 AND epoch IN ($3::bigint - 1, $3::bigint) AND \(Self.leaseHeld)
            RETURNING 1
            """, token: token, [operation.shard.rawValue, String(operation.epoch), operation.to.zone.rawValue,
                                operation.standbys.map(\.zone.rawValue).joined(separator: ",")])
    }

    public func setNeedsRewind(_ node: NodeID, _ value: Bool, token: Int64) throws(RuntimeError) {
        try journaled("""
            UPDATE control.nodes SET needs_rewind = $4::boolean WHERE shard_id = $2 AND zone = $3 AND \(Self.leaseHeld) RETURNING 1
            """, token: token, [node.shard.rawValue, node.zone.rawValue, value ? "true" : "false"])
    }

    /// Without a lease: `up` and `zone start` when no coordinator runs.
    public func clearNeedsRewind(_ node: NodeID) throws(RuntimeError) {
        try run { () throws(PostgresError) in
            try connection.query("UPDATE control.nodes SET needs_rewind = false WHERE shard_id = $1 AND zone = $2", [node.shard.rawValue, node.zone.rawValue])
        }
    }

    public func setSynchronousStandbys(_ shard: ShardID, _ standbys: [NodeID], token: Int64) throws(RuntimeError) {
        try journaled("""
            UPDATE control.shards SET synchronous_standbys = string_to_array($3, ',') WHERE shard_id = $2 AND \(Self.leaseHeld) RETURNING 1
            """, token: token, [shard.rawValue, standbys.map(\.zone.rawValue).joined(separator: ",")])
    }

    /// The open operations.
    public func openOperations() throws(RuntimeError) -> [ShardOperation] {
        let rows = try run { () throws(PostgresError) in
            try connection.query("SELECT shard_id, kind, from_zone, to_zone, epoch, array_to_string(standbys, ','), step FROM control.operations ORDER BY shard_id").rows
        }
        return rows.compactMap { row in
            let shard = ShardID(row[0] ?? "")
            guard let kind = ShardOperation.Kind(rawValue: row[1] ?? ""), let step = ShardOperation.Step(rawValue: row[6] ?? "") else { return nil }
            return ShardOperation(
                kind: kind, shard: shard, from: NodeID(shard: shard, zone: ZoneID(row[2] ?? "")),
                to: NodeID(shard: shard, zone: ZoneID(row[3] ?? "")), epoch: Int64(row[4] ?? "") ?? 0,
                standbys: (row[5] ?? "").split(separator: ",").map { NodeID(shard: shard, zone: ZoneID(String($0))) }, step: step)
        }
    }

    // MARK: zones held down by an operator

    /// Held zones and the mode (`power-loss`, `partition`) they were stopped with.
    public func heldZones() throws(RuntimeError) -> [ZoneID: String] {
        let rows = try run { () throws(PostgresError) in try connection.query("SELECT zone, mode FROM control.held_zones").rows }
        var zones: [ZoneID: String] = [:]
        for row in rows { zones[ZoneID(row[0] ?? "")] = row[1] ?? "" }
        return zones
    }

    public func holdZone(_ zone: ZoneID, mode: String) throws(RuntimeError) {
        try run { () throws(PostgresError) in
            try connection.query("INSERT INTO control.held_zones (zone, mode) VALUES ($1, $2) ON CONFLICT (zone) DO UPDATE SET mode = EXCLUDED.mode",
                                 [zone.rawValue, mode])
        }
    }

    /// Releases the zone; returns the mode it was held in, if it was.
    public func releaseZone(_ zone: ZoneID) throws(RuntimeError) -> String? {
        try run { () throws(PostgresError) in
            try connection.query("DELETE FROM control.held_zones WHERE zone = $1 RETURNING mode", [zone.rawValue]).scalar
        }
    }

    // MARK: operator requests (CLI -> coordinator)

    public struct Request: Sendable, Hashable {
        public let id: Int64
        public let kind: String
        public let shard: ShardID
        public let zone: ZoneID
    }

    public func submitRequest(kind: String, shard: ShardID, zone: ZoneID) throws(RuntimeError) -> Int64 {
        let id = try run { () throws(PostgresError) in
            try connection.query("INSERT INTO control.requests (kind, shard_id, zone) VALUES ($1, $2, $3) RETURNING id",
                                 [kind, shard.rawValue, zone.rawValue]).scalar
        }
        return Int64(id ?? "") ?? 0
    }

    public func pendingRequests() throws(RuntimeError) -> [Request] {
        let rows = try run { () throws(PostgresError) in
            try connection.query("SELECT id, kind, shard_id, zone FROM control.requests WHERE state = 'pending' ORDER BY id").rows
        }
        return rows.map { Request(id: Int64($0[0] ?? "") ?? 0, kind: $0[1] ?? "", shard: ShardID($0[2] ?? ""), zone: ZoneID($0[3] ?? "")) }
    }

    public func answerRequest(_ id: Int64, state: String, answer: String) throws(RuntimeError) {
        try run { () throws(PostgresError) in
            try connection.query("UPDATE control.requests SET state = $2, answer = $3 WHERE id = $1::bigint", [String(id), state, answer])
        }
    }

    /// The state (`pending`, `accepted`, `done`, `refused`) and answer of a request.
    public func request(_ id: Int64) throws(RuntimeError) -> (state: String, answer: String)? {
        let row = try run { () throws(PostgresError) in
            try connection.query("SELECT state, answer FROM control.requests WHERE id = $1::bigint", [String(id)]).rows.first
        }
        return row.map { ($0[0] ?? "", $0[1] ?? "") }
    }

    // MARK: what drills read back

    /// The control server's clock, in milliseconds since 1970 (every event time comes from it).
    public func nowMilliseconds() throws(RuntimeError) -> Int64 {
        let value = try run { () throws(PostgresError) in
            try connection.query("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint").scalar
        }
        return Int64(value ?? "") ?? 0
    }

    /// Promotions (the `promote` step of a failover or switchover) since `sinceMs`.
    public func promotions(sinceMs: Int64) throws(RuntimeError) -> [(node: NodeID, atMs: Int64)] {
        let rows = try run { () throws(PostgresError) in
            try connection.query("""
                SELECT shard_id, split_part(to_node, '/', 2), (extract(epoch FROM at) * 1000)::bigint FROM control.events
                WHERE kind IN ('failover.step', 'forced-failover.step', 'switchover.step') AND detail = 'promote'
                  AND at >= to_timestamp($1::double precision / 1000) ORDER BY id
                """, [String(sinceMs)]).rows
        }
        return rows.map { (NodeID(shard: ShardID($0[0] ?? ""), zone: ZoneID($0[1] ?? "")), Int64($0[2] ?? "") ?? 0) }
    }

    /// Shards whose failover the coordinator refused since `sinceMs`.
    public func refusals(sinceMs: Int64) throws(RuntimeError) -> Set<ShardID> {
        let rows = try run { () throws(PostgresError) in
            try connection.query("""
                SELECT DISTINCT shard_id FROM control.events
                WHERE kind = 'failover.refused' AND at >= to_timestamp($1::double precision / 1000)
                """, [String(sinceMs)]).rows
        }
        return Set(rows.compactMap { $0[0].map { ShardID($0) } })
    }

    // MARK: plumbing

    @discardableResult
    func run<T>(_ body: () throws(PostgresError) -> T) throws(RuntimeError) -> T {
        do {
            return try body()
        } catch {
            throw RuntimeError(.unavailable, "control database: \(error)")
        }
    }

    func transaction<E: Error>(_ body: () throws(E) -> Void) throws(RuntimeError) {
        try run { () throws(PostgresError) in try connection.execute("BEGIN") }
        do {
            try body()
        } catch {
            _ = try? connection.execute("ROLLBACK")
            if let error = error as? RuntimeError { throw error }
            throw RuntimeError(.unavailable, "control database: \(error)")
        }
        try run { () throws(PostgresError) in try connection.execute("COMMIT") }
    }
}
