import Foundation
import ResidencyCore

/// The logical replication of one tenant's rows from a source primary to a target primary:
/// a publication with a row filter on the source, a subscription on the target (which
/// creates the slot on the source, copies, then streams). Every call is idempotent.
///
/// The tenant name and table names reach the DDL (which takes no parameters) only as
/// validated values (`TenantID`, the catalogue's schema names) and quoted.
public struct LogicalCopy: Sendable {
    /// Names the publication, the subscription and the slot alike.
    public let name: String
    public let tenant: TenantID
    public let moveID: Int64
    /// `schema.table`, unquoted, of every table that moves.
    public let tables: [(schema: String, table: String)]

    public init(moveID: Int64, tenant: TenantID, tables: [(schema: String, table: String)]) {
        self.name = "residency_move_\(moveID)"
        self.tenant = tenant
        self.moveID = moveID
        self.tables = tables
    }

    static let markerTable = (schema: "residency", table: "move_markers")

    // MARK: source

    /// `CREATE PUBLICATION ... FOR TABLE t WHERE (tenant_id = '<tenant>'), ...`, publishing
    /// insert, update and delete (row filters do not apply to TRUNCATE, which is not published).
    public func createPublication(on source: Connection) throws(PostgresError) {
        let exists = try source.query("SELECT 1 FROM pg_publication WHERE pubname = $1", [name]).rows.isEmpty == false
        guard !exists else { return }
        let filter = "WHERE (tenant_id = \(SQLText.literal(tenant.rawValue)))"
        let list = (tables + [Self.markerTable]).map { "\(SQLText.identifier($0.schema)).\(SQLText.identifier($0.table)) \(filter)" }
        try source.execute("CREATE PUBLICATION \(SQLText.identifier(name)) FOR TABLE \(list.joined(separator: ", ")) WITH (publish = 'insert, update, delete')")
    }

    public func dropPublication(on source: Connection) throws(PostgresError) {
        try source.execute("DROP PUBLICATION IF EXISTS \(SQLText.identifier(name))")
    }

    /// Drops the slot if it is still there (a subscription dropped while the source was
    /// unreachable leaves it behind), ending a walsender that still holds it.
    public func dropSlot(on source: Connection) throws(PostgresError) {
        for _ in 0..<50 {
            let row = try source.query("SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1", [name]).rows.first
            guard let row else { return }
            if let pid = row[0] {
                try source.query("SELECT pg_terminate_backend($1::int)", [pid])
                usleep(100_000)
                continue
            }
            do {
                try source.query("SELECT pg_drop_replication_slot($1)", [name])
                return
            } catch {
                if error.sqlState == "42704" { return }  // gone meanwhile
                if error.sqlState != "55006" { throw error }  // 55006: in use again; retry
                usleep(100_000)
            }
        }
        throw PostgresError(kind: .statement, message: "replication slot \(name) stays in use", context: source.address)
    }

    /// Creates the logical slot on a replication connection (`replication=database`) and
    /// exports the snapshot it starts from: rows visible in that snapshot are exactly the
    /// rows the slot's changes apply on top of. The snapshot lives while `replication`
    /// stays open and runs nothing else.
    public func createSlotExportingSnapshot(on replication: Connection) throws(PostgresError) -> String {
        let result = try replication.execute("CREATE_REPLICATION_SLOT \(SQLText.identifier(name)) LOGICAL pgoutput EXPORT_SNAPSHOT")
        guard let index = result.columns.firstIndex(of: "snapshot_name"), let snapshot = result.rows.first?[index] else {
            throw PostgresError(kind: .statement, message: "CREATE_REPLICATION_SLOT exported no snapshot", context: replication.address)
        }
        return snapshot
    }

    /// Whether the slot exists on the source.
    public func slotExists(on source: Connection) throws(PostgresError) -> Bool {
        try source.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = $1", [name]).rows.isEmpty == false
    }

    /// Copies the tenant's rows of `schema.table` from `reader` (a transaction in the slot's
    /// snapshot) into `writer` (a target session with `session_replication_role = replica`,
    /// so the write fence's trigger does not fire), in PostgreSQL's binary COPY format,
    /// columns named explicitly. Returns the rows copied.
    public func copyRows(
        schema: String, table: String, from reader: Connection, into writer: Connection, progress: (Int64) -> Void,
        shouldStop: () -> Bool = { false }
    ) throws(PostgresError) -> Int64 {
        let name = "\(SQLText.identifier(schema)).\(SQLText.identifier(table))"
        let columns = try writer.columnNames(of: name).joined(separator: ", ")
        return try reader.copy(
            "COPY (SELECT \(columns) FROM \(name) WHERE tenant_id = \(SQLText.literal(tenant.rawValue))) TO STDOUT (FORMAT binary)",
            into: writer, "COPY \(name) (\(columns)) FROM STDIN (FORMAT binary)", progress: progress, shouldStop: shouldStop)
    }

    /// Ends every session of this move's copy on `target` (they connect with the move's name
    /// as application_name) and waits until they are gone: a copy abandoned on a hung source
    /// must not commit rows after a rollback deleted the target's.
    public func stopCopies(on target: Connection, timeout: Duration = .seconds(10)) throws(PostgresError) {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            let left = try target.query("""
                SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                WHERE application_name = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'
                """, [name]).scalar ?? "0"
            if left == "0" { return }
            if clock.now >= deadline {
                throw PostgresError(kind: .statement, message: "\(left) session(s) of copy \(name) still run on the target", context: target.address)
            }
            usleep(50_000)
        }
    }

    /// The source's WAL positions: how far it has written, and how far the move's slot
    /// has confirmed what the target applied (`nil` while the slot is absent).
    public func walPositions(on source: Connection) throws(PostgresError) -> (written: LSN, applied: LSN)? {
        let row = try source.query("""
            SELECT pg_current_wal_lsn()::text, confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1
            """, [name]).rows.first
        guard let row, let written = row[0].flatMap(LSN.init), let applied = row[1].flatMap(LSN.init) else { return nil }
        return (written, applied)
    }

    /// Waits (up to `timeout`) until everything the target has applied so far is on a
    /// synchronous standby of the target: a transactional logical message is written and
    /// committed with `synchronous_commit = on`, and its commit waits for a standby to hold
    /// the WAL up to it, which covers every transaction applied before. Throws when the
    /// wait was cancelled (the commit is then only local) or timed out.
    public func awaitStandby(on target: Connection, timeout: Duration) throws(PostgresError) {
        _ = target.takeNotices()
        try target.execute("BEGIN")
        do {
            try target.execute("SET LOCAL synchronous_commit = on")
            try target.execute("SET LOCAL statement_timeout = \(max(timeout.inMilliseconds, 1))")
            try target.query("SELECT pg_logical_emit_message(true, 'residency.move', $1)", ["\(name) switch barrier"])
            try target.execute("COMMIT")
        } catch {
            _ = try? target.execute("ROLLBACK")
            throw error
        }
        if target.takeNotices().contains(where: \.cancelsSynchronousWait) {
            throw PostgresError(kind: .timeout, message: "no standby of the target confirmed the applied changes within \(timeout)", context: target.address)
        }
    }

    /// Inserts marker `seq`; see `MoveSchema`.
    public func insertMarker(_ seq: Int64, on source: Connection) throws(PostgresError) {
        try source.query("INSERT INTO residency.move_markers (tenant_id, move_id, seq) VALUES ($1, $2::bigint, $3::bigint) ON CONFLICT DO NOTHING",
                         [tenant.rawValue, String(moveID), String(seq)])
    }

    // MARK: target

    /// `CREATE SUBSCRIPTION` with `synchronous_commit = off` connecting to the source with
    /// `connectionString`, on the existing slot and without PostgreSQL's own initial copy
    /// (`copyRows` did it, in binary, from the slot's snapshot): it streams every change
    /// after that snapshot. Applied transactions do not each wait for a standby of the
    /// target (under load that wait made catch-up slower than the tenant's own writes);
    /// `awaitStandby` before the switch makes everything applied durable on one.
    public func createSubscription(on target: Connection, sourceConnectionString: String) throws(PostgresError) {
        guard try !subscriptionExists(on: target) else { return }
        try target.execute("""
            CREATE SUBSCRIPTION \(SQLText.identifier(name)) CONNECTION \(SQLText.literal(sourceConnectionString))
            PUBLICATION \(SQLText.identifier(name))
            WITH (slot_name = \(SQLText.literal(name)), create_slot = false, copy_data = false, synchronous_commit = 'off')
            """)
    }

    public func subscriptionExists(on target: Connection) throws(PostgresError) -> Bool {
        try target.query("SELECT 1 FROM pg_subscription WHERE subname = $1", [name]).rows.isEmpty == false
    }

    /// After the target failed over: when the slot is held on the source while no apply
    /// worker of the subscription runs on the (new) target, the holder is the dead primary's
    /// walsender (it lingers until its connection times out): ends it, so the new primary's
    /// apply worker can take the slot.
    public func releaseSlotUnlessApplying(source: Connection, target: Connection) throws(PostgresError) {
        let applying = try target.query("SELECT 1 FROM pg_stat_subscription WHERE subname = $1 AND pid IS NOT NULL AND relid IS NULL",
                                        [name]).rows.isEmpty == false
        guard !applying else { return }
        try source.query("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL", [name])
    }

    /// Drops the subscription; when the source cannot be reached to drop the slot, detaches
    /// the slot first (`dropSlot` removes it later). Returns whether the slot was detached.
    @discardableResult
    public func dropSubscription(on target: Connection) throws(PostgresError) -> Bool {
        guard try subscriptionExists(on: target) else { return false }
        let subscription = SQLText.identifier(name)
        do {
            try target.execute("DROP SUBSCRIPTION \(subscription)")
            return false
        } catch {
            try target.execute("ALTER SUBSCRIPTION \(subscription) DISABLE")
            try target.execute("ALTER SUBSCRIPTION \(subscription) SET (slot_name = NONE)")
            try target.execute("DROP SUBSCRIPTION \(subscription)")
            return true
        }
    }

    /// Per table (`schema.table`): whether the subscription streams it (ready or synced),
    /// and the errors its workers reported.
    public struct CopyState: Sendable, Hashable {
        public var tablesDone: Set<String>
        public var tablesTotal: Int
        public var errors: Int64

        public var done: Bool { tablesDone.count == tablesTotal && tablesTotal > 0 }
    }

    public func copyState(on target: Connection) throws(PostgresError) -> CopyState {
        let relations = try target.query("""
            SELECT n.nspname || '.' || c.relname, sr.srsubstate FROM pg_subscription_rel sr
            JOIN pg_subscription s ON s.oid = sr.srsubid
            JOIN pg_class c ON c.oid = sr.srrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE s.subname = $1
            """, [name]).rows
        let errors = try target.query("""
            SELECT coalesce(sum(apply_error_count + sync_error_count), 0)::bigint FROM pg_stat_subscription_stats WHERE subname = $1
            """, [name]).scalar.flatMap { Int64($0) } ?? 0
        var state = CopyState(tablesDone: [], tablesTotal: relations.count, errors: errors)
        for row in relations where row[1] == "r" || row[1] == "s" { state.tablesDone.insert(row[0] ?? "") }
        return state
    }

    public func markerArrived(_ seq: Int64, on target: Connection) throws(PostgresError) -> Bool {
        try target.query("SELECT 1 FROM residency.move_markers WHERE tenant_id = $1 AND move_id = $2::bigint AND seq = $3::bigint",
                         [tenant.rawValue, String(moveID), String(seq)]).rows.isEmpty == false
    }

    /// Change tracking for the tenant on the target: registered (off) before the copy.
    public func registerMovingIn(on target: Connection) throws(PostgresError) {
        try target.query("""
            INSERT INTO residency.moving_in (tenant_id, move_id) VALUES ($1, $2::bigint)
            ON CONFLICT (tenant_id) DO UPDATE SET move_id = EXCLUDED.move_id, tracking = false
            """, [tenant.rawValue, String(moveID)])
    }

    /// Turns tracking on (enables the `ALWAYS` trigger on the moving tables: `ALTER TABLE`
    /// waits for the tables' open writers), then waits until every transaction that began
    /// before has ended, so that every change committed from then on is logged.
    public func startTracking(on target: Connection, timeout: Duration = .seconds(30)) throws(PostgresError) {
        for (schema, table) in tables {
            try target.execute("ALTER TABLE \(SQLText.identifier(schema)).\(SQLText.identifier(table)) ENABLE ALWAYS TRIGGER move_changes")
        }
        try target.query("UPDATE residency.moving_in SET tracking = true WHERE tenant_id = $1", [tenant.rawValue])
        try target.waitForTransactions(
            begunBefore: try target.serverNow(), backendTypes: ["client backend", "logical replication worker"], timeout: timeout,
            pollEvery: .milliseconds(5), what: "change tracking of tenant \(tenant) is on")
    }

    /// Keys of the tenant's rows changed by transactions not visible in `snapshot`, per table.
    public func changedKeys(since snapshot: String, on target: Connection) throws(PostgresError) -> [String: [String]] {
        let rows = try target.query("""
            SELECT DISTINCT table_name, id::text FROM residency.move_changes
            WHERE tenant_id = $1 AND NOT pg_visible_in_snapshot(xid, $2::pg_snapshot)
            """, [tenant.rawValue, snapshot]).rows
        var keys: [String: [String]] = [:]
        for row in rows { keys[row[0] ?? "", default: []].append(row[1] ?? "") }
        return keys
    }

    /// Removes the tenant's tracking and markers from `connection` (either side), and
    /// disables the trigger again unless another tenant is moving in.
    public func dropTracking(on connection: Connection) throws(PostgresError) {
        try connection.query("DELETE FROM residency.moving_in WHERE tenant_id = $1", [tenant.rawValue])
        if try connection.query("SELECT count(*) FROM residency.moving_in").scalar == "0" {
            let enabled = try connection.query("""
                SELECT tgrelid::regclass::text FROM pg_trigger WHERE tgname = 'move_changes' AND tgenabled <> 'D'
                """).rows.compactMap { $0[0] }
            for (schema, table) in tables where enabled.contains("\(schema).\(table)") || enabled.contains("\(SQLText.identifier(schema)).\(SQLText.identifier(table))") {
                try connection.execute("ALTER TABLE \(SQLText.identifier(schema)).\(SQLText.identifier(table)) DISABLE TRIGGER move_changes")
            }
        }
        try connection.query("DELETE FROM residency.move_changes WHERE tenant_id = $1", [tenant.rawValue])
        try connection.query("DELETE FROM residency.move_markers WHERE tenant_id = $1", [tenant.rawValue])
    }

    /// Deletes the tenant's rows of the moved tables on `connection`, bypassing the write
    /// fence (`session_replication_role = replica` skips ordinary triggers; superuser only),
    /// then vacuums the tables: a later move into them would otherwise insert into a heap and
    /// indexes full of dead rows (measured: a binary COPY took 1.7 times as long).
    public func deleteRows(on connection: Connection) throws(PostgresError) {
        try TenantSchema.deleteRows(of: tenant, tables: tables.map { ($0.schema, $0.table) }, on: connection)
    }
}
