/// The roles the tool's own parts log in as, each with only what its work needs (least
/// privilege), instead of the superuser `initdb` creates:
///
/// - `replication`: physical streaming and base backups (`REPLICATION`), named in every
///   standby's `primary_conninfo`.
/// - `coordinator`: probes (`pg_monitor`: every column of `pg_stat_replication` and
///   `pg_stat_wal_receiver`), promotion (`pg_promote`), the replication settings
///   (`ALTER SYSTEM` on `synchronous_standby_names`, `primary_conninfo`,
///   `primary_slot_name`, then `pg_reload_conf`), physical slots and base backups of
///   rebuilt standbys (`REPLICATION`), and `pg_rewind`'s source (`pg_checkpoint` and the
///   file functions pg_rewind documents for a non-superuser).
/// - `control`: owns the control database, and nothing on data nodes.
/// - `mover`: residency moves. A superuser, the one exception, because PostgreSQL 15 gives
///   what a move needs to superusers only: `CREATE SUBSCRIPTION`, `session_replication_role`
///   (the copy and the delete of a retained copy pass the write fence with it), a
///   publication of tables owned by the superuser, tenant roles (`CREATEROLE` could grant
///   itself anything anyway). Its own password keeps it apart from `up`'s superuser.
///
/// docs/ARCHITECTURE.md ("Roles and their rights") lists every use of a superuser and why.
public enum ServiceRole: String, CaseIterable, Sendable {
    case replication = "residency_replication"
    case coordinator = "residency_coordinator"
    case control = "residency_control"
    case mover = "residency_mover"

    public var name: String { rawValue }

    /// Role attributes (`SUPERUSER` for `mover` only; see above).
    var attributes: String {
        switch self {
        case .mover: "LOGIN SUPERUSER"
        case .replication, .coordinator: "LOGIN REPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS"
        case .control: "LOGIN NOREPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS"
        }
    }

    /// Grants on a data node (function grants are per database: the tenant database, the
    /// one these roles connect to).
    var grants: [String] {
        switch self {
        case .replication, .control, .mover: []
        case .coordinator: [
            "GRANT pg_monitor, pg_checkpoint TO \(name)",
            """
            GRANT EXECUTE ON FUNCTION pg_catalog.pg_promote(boolean, integer), pg_catalog.pg_reload_conf(),
                pg_catalog.pg_ls_dir(text, boolean, boolean), pg_catalog.pg_stat_file(text, boolean),
                pg_catalog.pg_read_binary_file(text), pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean) TO \(name)
            """,
            "GRANT ALTER SYSTEM ON PARAMETER synchronous_standby_names, primary_conninfo, primary_slot_name TO \(name)",
        ]
        }
    }

    /// Creates the role (or gives it the new password) with its attributes and grants, on
    /// the server of `connection` (a superuser session), in one transaction. Idempotent.
    public func ensure(verifier: String, grants withGrants: Bool = true, on connection: Connection) throws(PostgresError) {
        guard let password = SQLText.verifier(verifier) else {
            throw PostgresError(kind: .statement, message: "refusing a password that is not a SCRAM verifier for \(name)", context: connection.address)
        }
        try connection.execute("BEGIN")
        do throws(PostgresError) {
            let exists = try connection.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [name]).rows.isEmpty == false
            try connection.execute("\(exists ? "ALTER" : "CREATE") ROLE \(name) \(attributes) PASSWORD \(password)")
            if withGrants { for grant in grants { try connection.execute(grant) } }
            try connection.execute("COMMIT")
        } catch {
            _ = try? connection.execute("ROLLBACK")
            throw error
        }
    }
}
