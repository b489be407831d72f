import Foundation
import ResidencyCore

/// Replication changes made over SQL, so they work on any server the tool can reach:
/// `ALTER SYSTEM` + `pg_reload_conf()` for settings, `pg_promote()` for promotion.
/// `ALTER SYSTEM` takes no parameters; the values here come from validated names.
public enum ReplicationAdmin {
    /// `ANY 1 ("eu_central_1__eu_central_b", ...)`: a commit is acknowledged once one of them has it.
    public static func synchronousStandbyNames(_ standbys: [NodeID]) -> String {
        "ANY 1 (" + standbys.map { "\"\($0.postgresName)\"" }.joined(separator: ", ") + ")"
    }

    /// A setting no standby's `application_name` ever matches: commits wait forever, so
    /// none is acknowledged (the fence for a primary that must not accept writes).
    public static let fencedStandbyNames = "ANY 1 (\"residency_fenced\")"

    /// Sets `synchronous_standby_names` (also on a standby: it takes effect at promotion).
    public static func setSynchronousStandbyNames(_ value: String, on connection: Connection) throws(PostgresError) {
        try connection.execute("ALTER SYSTEM SET synchronous_standby_names = \(SQLText.literal(value))")
        try connection.query("SELECT pg_reload_conf()")
    }

    /// Points a standby at `primary` (its WAL receiver restarts on reload), streaming
    /// through `slot`, which must exist on `primary`.
    public static func follow(_ primary: ConnectionSettings, slot: String, on connection: Connection) throws(PostgresError) {
        var upstream = primary
        upstream.applicationName = slot
        upstream.statementTimeoutMilliseconds = 0
        upstream.connectTimeoutSeconds = 2
        try connection.execute("ALTER SYSTEM SET primary_conninfo = \(SQLText.literal(upstream.connectionString))")
        // A node's slot is named after the node and never changes: once set, setting it
        // again would only cost another rewrite and fsync of postgresql.auto.conf.
        if try connection.query("SELECT current_setting('primary_slot_name')").scalar != slot {
            try connection.execute("ALTER SYSTEM SET primary_slot_name = \(SQLText.literal(slot))")
        }
        try connection.query("SELECT pg_reload_conf()")
    }

    /// Creates a physical slot unless it exists (works on a standby too).
    public static func ensureSlot(_ slot: String, on connection: Connection) throws(PostgresError) {
        try connection.query("""
            SELECT pg_create_physical_replication_slot($1, true)
            WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)
            """, [slot])
    }

    /// Promotes a standby and waits until it accepts writes (30 s at most); does nothing on
    /// a primary. `pg_promote(wait => true)` looks only every 100 ms; this asks every 5 ms,
    /// which takes about 50 ms off every failover.
    public static func promote(on connection: Connection, timeout: Duration = .seconds(30)) throws(PostgresError) {
        guard try connection.query("SELECT pg_is_in_recovery()").scalar == "t" else { return }
        guard try connection.query("SELECT pg_promote(false)").scalar == "t" else {
            throw PostgresError(kind: .statement, message: "pg_promote refused", context: connection.address)
        }
        let deadline = ContinuousClock.now + timeout
        while try connection.query("SELECT pg_is_in_recovery()").scalar == "t" {
            guard ContinuousClock.now < deadline else {
                throw PostgresError(kind: .timeout, message: "promotion did not finish within \(timeout)", context: connection.address)
            }
            usleep(5_000)
        }
    }

    /// One probe's worth of facts about a server, in one round trip.
    public static let probeQuery = """
        SELECT pg_is_in_recovery(),
               (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END)::text,
               (SELECT sender_port FROM pg_stat_wal_receiver WHERE status = 'streaming'),
               (SELECT (extract(epoch FROM clock_timestamp() - last_msg_receipt_time) * 1000)::bigint FROM pg_stat_wal_receiver)
        """

    /// Parses a row of `probeQuery`.
    public static func report(_ row: [String?]) -> NodeReport {
        let inRecovery = row[0] == "t"
        let lsn = row[1].flatMap { LSN($0) }
        return NodeReport(
            inRecovery: inRecovery,
            receivedLSN: inRecovery ? lsn : nil,
            currentLSN: inRecovery ? nil : lsn,
            upstreamPort: row[2].flatMap { Int($0) },
            sinceUpstreamMessage: row[3].flatMap { Int64($0) }.map { .milliseconds($0) })
    }
}
