import ResidencyCore

/// The schema every shard primary gets at creation (standbys receive it by replication):
/// the product and app tables, the tenant context, the per-tenant write fence and the
/// application role.
///
/// Tenant context: every product and app table has row-level security enabled and
/// forced, with a policy comparing `tenant_id` to `residency.current_tenant()`, which
/// reads the session's `residency.tenant` and raises `RS001` when it is unset or empty
/// (after `RESET`, an unset custom setting reads as ''). It protects tenants from each
/// other's bugs, not from someone holding the application role's password.
///
/// Write fence: a row trigger on every table raises `RS002` for INSERT, UPDATE and DELETE
/// of a tenant listed in `residency.frozen_tenants` (a restrictive policy would let UPDATE
/// and DELETE silently touch zero rows instead of failing).
public enum TenantSchema {
    /// The database holding tenant data on every data node.
    public static let database = "residency"
    /// The non-superuser role application traffic uses; it cannot bypass row-level security.
    public static let applicationRole = "residency_app"
    /// The session setting that carries the tenant context.
    public static let tenantSetting = "residency.tenant"
    /// SQLSTATE of a query on tenant data without a tenant context.
    public static let noTenantContextState = "RS001"
    /// SQLSTATE of a write by a frozen tenant.
    public static let frozenTenantState = "RS002"

    /// The write fence's trigger function. A `residency.frozen_tenants` row freezes the
    /// tenant's tables in `schemas` (every table when NULL): a move freezes the datasets it
    /// moves, while an app that is not residency-eligible keeps writing where it stays.
    /// `CREATE OR REPLACE`, so a move can bring an older node up to date (with `fenceColumns`).
    public static let fenceFunction = """
        CREATE OR REPLACE FUNCTION residency.refuse_frozen_writes() RETURNS trigger
        LANGUAGE plpgsql AS $fn$
        DECLARE
            tenant text;
        BEGIN
            IF TG_OP IN ('UPDATE', 'DELETE') AND EXISTS (
                SELECT 1 FROM residency.frozen_tenants f
                WHERE f.tenant_id = OLD.tenant_id AND (f.schemas IS NULL OR TG_TABLE_SCHEMA = ANY (f.schemas))) THEN
                tenant := OLD.tenant_id;
            ELSIF TG_OP IN ('INSERT', 'UPDATE') AND EXISTS (
                SELECT 1 FROM residency.frozen_tenants f
                WHERE f.tenant_id = NEW.tenant_id AND (f.schemas IS NULL OR TG_TABLE_SCHEMA = ANY (f.schemas))) THEN
                tenant := NEW.tenant_id;
            END IF;
            IF tenant IS NOT NULL THEN
                RAISE EXCEPTION 'tenant % is frozen: % on %.% refused by the write fence', tenant, TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
                    USING ERRCODE = '\(frozenTenantState)';
            END IF;
            IF TG_OP = 'DELETE' THEN
                RETURN OLD;
            END IF;
            RETURN NEW;
        END
        $fn$;
        """

    /// Brings a node created before per-schema freezes up to date (idempotent).
    public static let fenceColumns = "ALTER TABLE residency.frozen_tenants ADD COLUMN IF NOT EXISTS schemas text[];"

    /// Every table holding tenant data, schema-qualified and quoted, for `apps`.
    public static func tables(apps: [App]) -> [(schema: String, table: String)] {
        Product.allCases.flatMap { product in product.tables.map { (product.schemaName, $0) } }
            + apps.map { ($0.schemaName, "records") }
    }

    /// The whole schema as one script (PQexec runs it as one transaction).
    public static func script(apps: [App], applicationPassword: String) -> String {
        var sql = """
            CREATE ROLE \(applicationRole) LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION
                PASSWORD \(SQLText.literal(applicationPassword));
            REVOKE ALL ON SCHEMA public FROM PUBLIC;
            CREATE SCHEMA residency;
            GRANT USAGE ON SCHEMA residency TO \(applicationRole);
            CREATE TABLE residency.frozen_tenants (
                tenant_id text PRIMARY KEY,
                frozen_at timestamptz NOT NULL DEFAULT clock_timestamp(),
                reason text NOT NULL DEFAULT '',
                schemas text[]
            );
            GRANT SELECT ON residency.frozen_tenants TO \(applicationRole);

            CREATE FUNCTION residency.current_tenant() RETURNS text
            LANGUAGE plpgsql STABLE AS $fn$
            DECLARE
                tenant text := current_setting('\(tenantSetting)', true);
            BEGIN
                IF tenant IS NULL OR tenant = '' THEN
                    RAISE EXCEPTION 'no tenant context: set \(tenantSetting) before touching tenant data'
                        USING ERRCODE = '\(noTenantContextState)',
                              HINT = 'SELECT set_config(''\(tenantSetting)'', $1, false)';
                END IF;
                RETURN tenant;
            END
            $fn$;

            \(fenceFunction)

            CREATE SCHEMA jira;
            CREATE TABLE jira.issues (
                tenant_id text NOT NULL,
                id uuid NOT NULL DEFAULT gen_random_uuid(),
                key text NOT NULL,
                summary text NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (tenant_id, id)
            );
            CREATE TABLE jira.comments (
                tenant_id text NOT NULL,
                id uuid NOT NULL DEFAULT gen_random_uuid(),
                issue_id uuid NOT NULL,
                body text NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (tenant_id, id)
            );
            CREATE SCHEMA confluence;
            CREATE TABLE confluence.spaces (
                tenant_id text NOT NULL,
                id uuid NOT NULL DEFAULT gen_random_uuid(),
                key text NOT NULL,
                name text NOT NULL,
                PRIMARY KEY (tenant_id, id)
            );
            CREATE TABLE confluence.pages (
                tenant_id text NOT NULL,
                id uuid NOT NULL DEFAULT gen_random_uuid(),
                space_id uuid NOT NULL,
                title text NOT NULL,
                body text NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (tenant_id, id)
            );

            """
        for app in apps {
            let schema = SQLText.identifier(app.schemaName)
            sql += """
                CREATE SCHEMA \(schema);
                CREATE TABLE \(schema).records (
                    tenant_id text NOT NULL,
                    id uuid NOT NULL DEFAULT gen_random_uuid(),
                    kind text NOT NULL,
                    body jsonb NOT NULL DEFAULT '{}',
                    created_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (tenant_id, id)
                );

                """
        }
        var schemas: [String] = []
        for (schema, table) in tables(apps: apps) {
            let name = "\(SQLText.identifier(schema)).\(SQLText.identifier(table))"
            if !schemas.contains(schema) {
                schemas.append(schema)
                sql += "GRANT USAGE ON SCHEMA \(SQLText.identifier(schema)) TO \(applicationRole);\n"
            }
            sql += """
                ALTER TABLE \(name) ENABLE ROW LEVEL SECURITY;
                ALTER TABLE \(name) FORCE ROW LEVEL SECURITY;
                CREATE POLICY tenant_context ON \(name)
                    USING (tenant_id = residency.current_tenant())
                    WITH CHECK (tenant_id = residency.current_tenant());
                CREATE TRIGGER write_fence BEFORE INSERT OR UPDATE OR DELETE ON \(name)
                    FOR EACH ROW EXECUTE FUNCTION residency.refuse_frozen_writes();
                GRANT SELECT, INSERT, UPDATE, DELETE ON \(name) TO \(applicationRole);

                """
        }
        return sql + MoveSchema.script(tables: tables(apps: apps))
    }

    /// Sets the tenant context of `connection`'s session (as a parameter, never spliced in).
    public static func setTenantContext(_ tenant: TenantID, on connection: Connection) throws(PostgresError) {
        try connection.query("SELECT set_config($1, $2, false)", [tenantSetting, tenant.rawValue])
    }

    /// Inserts `rows` demo rows per product table and app, for `tenant`, as the application role
    /// with its tenant context, in one transaction. Rows the tenant already has in those
    /// tables go first: they can only be left over from a creation that crashed before the
    /// catalogue recorded the tenant, so running this again gives the same result.
    public static func insertDemoRows(
        _ tenant: TenantID, products: [Product], apps: [App], rows: Int, on connection: Connection
    ) throws(PostgresError) {
        guard rows > 0 else { return }
        try setTenantContext(tenant, on: connection)
        try connection.execute("BEGIN")
        do throws(PostgresError) {
            let n = String(rows)
            let t = tenant.rawValue
            for (schema, table) in tables(apps: apps) where products.map(\.schemaName).contains(schema) || apps.map(\.schemaName).contains(schema) {
                try connection.query("DELETE FROM \(SQLText.identifier(schema)).\(SQLText.identifier(table)) WHERE tenant_id = $1", [t])
            }
            if products.contains(.jira) {
                try connection.query("""
                    INSERT INTO jira.issues (tenant_id, key, summary)
                    SELECT $1, 'DEMO-' || g, 'Demo issue ' || g FROM generate_series(1, $2::int) g
                    """, [t, n])
                try connection.query("""
                    INSERT INTO jira.comments (tenant_id, issue_id, body)
                    SELECT tenant_id, id, 'First comment on ' || key FROM jira.issues
                    """, [])
            }
            if products.contains(.confluence) {
                try connection.query("INSERT INTO confluence.spaces (tenant_id, key, name) VALUES ($1, 'DEMO', 'Demo space')", [t])
                try connection.query("""
                    INSERT INTO confluence.pages (tenant_id, space_id, title, body)
                    SELECT $1, s.id, 'Page ' || g, repeat('Lorem ipsum ', 20) FROM generate_series(1, $2::int) g,
                        (SELECT id FROM confluence.spaces LIMIT 1) s
                    """, [t, n])
            }
            for app in apps {
                try connection.query("""
                    INSERT INTO \(SQLText.identifier(app.schemaName)).records (tenant_id, kind, body)
                    SELECT $1, 'demo', jsonb_build_object('n', g) FROM generate_series(1, $2::int) g
                    """, [t, n])
            }
            try connection.execute("COMMIT")
        } catch {
            _ = try? connection.execute("ROLLBACK")
            throw error
        }
    }
}
