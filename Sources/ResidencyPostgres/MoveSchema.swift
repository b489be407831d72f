import ResidencyCore

/// What residency moves need on every shard primary: part of the schema `up` creates, and
/// brought in (idempotently) by a move on a node created before moves existed:
///
/// - `residency.move_markers`: a row the mover inserts on the source after the freeze and
///   waits for on the target. Logical replication applies in commit order, so once the
///   marker is there, everything the tenant committed before the freeze is there too
///   (no reliance on feedback timing).
/// - `residency.moving_in` and `residency.move_changes`: while a tenant moves in with
///   `tracking` on, an `ALWAYS` trigger (it fires for the replication apply worker too)
///   logs the key of every row of that tenant that anything changes, with the writing
///   transaction's id, so that verification can hash only rows changed since its pre-check
///   (see `MoveVerification`). The trigger is created disabled and enabled on a move's
///   tables only when tracking starts: during the initial copy a row trigger would cost
///   more than the copy itself (measured: it cut copy throughput by more than half).
public enum MoveSchema {
    /// The DDL for `tables` (schema-qualified names of every tenant table of the node).
    public static func script(tables: [(schema: String, table: String)]) -> String {
        var sql = """
            CREATE TABLE IF NOT EXISTS residency.move_markers (
                tenant_id text NOT NULL,
                move_id bigint NOT NULL,
                seq bigint NOT NULL,
                written_at timestamptz NOT NULL DEFAULT clock_timestamp(),
                PRIMARY KEY (tenant_id, move_id, seq)
            );
            CREATE TABLE IF NOT EXISTS residency.moving_in (
                tenant_id text PRIMARY KEY,
                move_id bigint NOT NULL,
                tracking boolean NOT NULL DEFAULT false
            );
            CREATE TABLE IF NOT EXISTS residency.move_changes (
                xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
                tenant_id text NOT NULL,
                table_name text NOT NULL,
                id uuid NOT NULL
            );
            CREATE INDEX IF NOT EXISTS move_changes_tenant ON residency.move_changes (tenant_id);
            CREATE OR REPLACE FUNCTION residency.log_move_change() RETURNS trigger
            LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $fn$
            BEGIN
                IF TG_OP IN ('UPDATE', 'DELETE') AND EXISTS (
                    SELECT 1 FROM residency.moving_in m WHERE m.tenant_id = OLD.tenant_id AND m.tracking) THEN
                    INSERT INTO residency.move_changes (tenant_id, table_name, id)
                    VALUES (OLD.tenant_id, TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, OLD.id);
                END IF;
                IF TG_OP IN ('INSERT', 'UPDATE') AND EXISTS (
                    SELECT 1 FROM residency.moving_in m WHERE m.tenant_id = NEW.tenant_id AND m.tracking) THEN
                    INSERT INTO residency.move_changes (tenant_id, table_name, id)
                    VALUES (NEW.tenant_id, TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, NEW.id);
                END IF;
                RETURN NULL;
            END
            $fn$;

            """
        for (schema, table) in tables {
            let name = "\(SQLText.identifier(schema)).\(SQLText.identifier(table))"
            let regclass = SQLText.literal(name)
            sql += """
                DO $do$ BEGIN
                    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'move_changes' AND tgrelid = \(regclass)::regclass) THEN
                        CREATE TRIGGER move_changes AFTER INSERT OR UPDATE OR DELETE ON \(name)
                            FOR EACH ROW EXECUTE FUNCTION residency.log_move_change();
                        ALTER TABLE \(name) DISABLE TRIGGER move_changes;
                    END IF;
                END $do$;

                """
        }
        // Last: a writer holding a tenant table reads frozen_tenants in its fence trigger,
        // so taking that table's lock before the tenant tables' could deadlock with it.
        return sql + TenantSchema.fenceColumns + "\n" + TenantSchema.fenceFunction + "\n"
    }

    /// Runs `script` on `connection` (one transaction) unless the node has everything
    /// already: its DDL locks the tables for a moment, which the tenants writing there
    /// should not pay for at every move.
    public static func ensure(tables: [(schema: String, table: String)], on connection: Connection) throws(PostgresError) {
        let present = try connection.query("""
            SELECT to_regclass('residency.move_changes') IS NOT NULL
               AND EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'residency.frozen_tenants'::regclass AND attname = 'schemas')
               AND (SELECT count(*) FROM pg_trigger WHERE tgname = 'move_changes') >= $1::int
            """, [String(tables.count)]).scalar == "t"
        if !present { try connection.execute(script(tables: tables)) }
    }
}
