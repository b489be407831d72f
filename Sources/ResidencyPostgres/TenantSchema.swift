import ResidencyCore

/// The schema every shard primary gets at creation (standbys receive it by replication):
/// the product and app tables, tenant isolation, the per-tenant write fence.
///
/// Tenant isolation: each tenant logs in as its own role (`role(for:)`), a member of
/// `tenantsRole`, which holds the table grants and nothing else. Every product and app
/// table has row-level security enabled and forced, with a policy comparing `tenant_id` to
/// `residency.current_tenant()`: the tenant mapped to the session's login role
/// (`session_user`, which neither `SET ROLE` nor anything else a non-superuser session does
/// can change) in `residency.tenant_roles`, a table tenants cannot read or write. A session
/// whose login role is no tenant's gets `RS001` on tenant data. Functions that must read
/// tables tenants cannot (the mapping, the frozen list) are `SECURITY DEFINER` with a fixed
/// `search_path`.
///
/// Write fence: a row trigger on every table raises `RS002` for INSERT, UPDATE and DELETE
/// of a tenant listed in `residency.frozen_tenants` (a restrictive policy would let UPDATE
/// and DELETE silently touch zero rows instead of failing).
public enum TenantSchema {
    /// The database holding tenant data on every data node.
    public static let database = "residency"
    /// The group role of every tenant's login role: the table grants, no login, no
    /// superuser, no `BYPASSRLS`.
    public static let tenantsRole = "residency_tenants"
    /// SQLSTATE of a query on tenant data by a session whose login role is no tenant's.
    public static let noTenantContextState = "RS001"
    /// SQLSTATE of a write by a frozen tenant.
    public static let frozenTenantState = "RS002"

    /// The login role of `tenant`: `tenant-NAME`, or for names longer than 56 characters
    /// their first 40 and a 64-bit hash (PostgreSQL names hold 63 bytes). The mapping table's
    /// unique keys refuse the (improbable) collision instead of sharing a role.
    public static func role(for tenant: TenantID) -> String {
        let name = tenant.rawValue
        if name.utf8.count <= 56 { return "tenant-" + name }
        return "tenant-" + name.prefix(40) + "-" + Fingerprint.fnv1a(name).prefix(15)
    }

    /// The write fence's trigger function. A `residency.frozen_tenants` row freezes the
    /// tenant's tables in `schemas` (every table when NULL): a move freezes the datasets it
    /// moves, while an app that is not residency-eligible keeps writing where it stays.
    /// `CREATE OR REPLACE`, so a move can bring an older node up to date (with `fenceColumns`).
    /// `SECURITY DEFINER`: tenants cannot read the frozen list.
    public static let fenceFunction = """
        CREATE OR REPLACE FUNCTION residency.refuse_frozen_writes() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $fn$
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
    public static func script(apps: [App]) -> String {
        var sql = """
            CREATE ROLE \(tenantsRole) NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION;
            REVOKE ALL ON SCHEMA public FROM PUBLIC;
            REVOKE CONNECT, TEMPORARY ON DATABASE postgres FROM PUBLIC;
            REVOKE CONNECT, TEMPORARY ON DATABASE template1 FROM PUBLIC;
            REVOKE TEMPORARY ON DATABASE \(database) FROM PUBLIC;
            REVOKE ALL ON FUNCTION pg_catalog.lo_import(text), pg_catalog.lo_import(text, oid), pg_catalog.lo_export(oid, text) FROM PUBLIC;
            CREATE SCHEMA residency;
            GRANT USAGE ON SCHEMA residency TO \(tenantsRole);
            CREATE TABLE residency.frozen_tenants (
                tenant_id text PRIMARY KEY,
                frozen_at timestamptz NOT NULL DEFAULT clock_timestamp(),
                reason text NOT NULL DEFAULT '',
                schemas text[]
            );
            CREATE TABLE residency.tenant_roles (
                role_name name PRIMARY KEY,
                tenant_id text NOT NULL UNIQUE
            );

            CREATE FUNCTION residency.current_tenant() RETURNS text
            LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $fn$
            DECLARE
                tenant text;
            BEGIN
                SELECT r.tenant_id INTO tenant FROM residency.tenant_roles r WHERE r.role_name = session_user;
                IF tenant IS NULL THEN
                    RAISE EXCEPTION 'role % is no tenant''s: tenant data is reached only by logging in as the tenant''s own role', session_user
                        USING ERRCODE = '\(noTenantContextState)',
                              HINT = 'connect with the string of: residency conninfo --tenant NAME';
                END IF;
                RETURN tenant;
            END
            $fn$;
            REVOKE ALL ON FUNCTION residency.current_tenant() FROM PUBLIC;
            GRANT EXECUTE ON FUNCTION residency.current_tenant() TO \(tenantsRole);

            \(fenceFunction)
            REVOKE ALL ON FUNCTION residency.refuse_frozen_writes() FROM PUBLIC;

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
                sql += "GRANT USAGE ON SCHEMA \(SQLText.identifier(schema)) TO \(tenantsRole);\n"
            }
            sql += """
                ALTER TABLE \(name) ENABLE ROW LEVEL SECURITY;
                ALTER TABLE \(name) FORCE ROW LEVEL SECURITY;
                CREATE POLICY tenant_context ON \(name)
                    USING (tenant_id = (SELECT residency.current_tenant()))
                    WITH CHECK (tenant_id = (SELECT residency.current_tenant()));
                CREATE TRIGGER write_fence BEFORE INSERT OR UPDATE OR DELETE ON \(name)
                    FOR EACH ROW EXECUTE FUNCTION residency.refuse_frozen_writes();
                GRANT SELECT, INSERT, UPDATE, DELETE ON \(name) TO \(tenantsRole);

                """
        }
        return sql + MoveSchema.script(tables: tables(apps: apps))
    }

    /// Creates `tenant`'s login role (or gives an existing one the new password) and maps it
    /// to the tenant, in one transaction on a shard's primary, as a superuser. `verifier` is a
    /// SCRAM verifier (`Connection.scramVerifier`); DDL takes no parameters, so the role name
    /// (derived from a validated tenant name) and the verifier (checked here) are quoted in
    /// as literals. Refused when the role name is mapped to another tenant.
    public static func ensureRole(_ tenant: TenantID, verifier: String, on connection: Connection) throws(PostgresError) {
        guard let password = SQLText.verifier(verifier) else {
            throw PostgresError(kind: .statement, message: "refusing a password that is not a SCRAM verifier for \(tenant)", context: connection.address)
        }
        let role = role(for: tenant)
        try connection.execute("BEGIN")
        do throws(PostgresError) {
            let exists = try connection.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [role]).rows.isEmpty == false
            let quoted = SQLText.identifier(role)
            if exists {
                try connection.execute("ALTER ROLE \(quoted) PASSWORD \(password)")
            } else {
                try connection.execute("""
                    CREATE ROLE \(quoted) LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION INHERIT
                        IN ROLE \(tenantsRole) PASSWORD \(password)
                    """)
            }
            try connection.query("""
                INSERT INTO residency.tenant_roles (role_name, tenant_id) VALUES ($1, $2)
                ON CONFLICT (role_name) DO NOTHING
                """, [role, tenant.rawValue])
            let mapped = try connection.query("SELECT tenant_id FROM residency.tenant_roles WHERE role_name = $1", [role]).scalar
            guard mapped == tenant.rawValue else {
                throw PostgresError(kind: .statement, message: "role \(role) already belongs to tenant \(mapped ?? "?")", context: connection.address)
            }
            try connection.execute("COMMIT")
        } catch {
            _ = try? connection.execute("ROLLBACK")
            throw error
        }
    }

    /// Deletes `tenant`'s rows from `tables` on the server of `connection` (a superuser
    /// session on a primary), in one transaction, passing the write fence
    /// (`session_replication_role = replica` skips ordinary triggers; superuser only), then
    /// vacuums the tables.
    public static func deleteRows(of tenant: TenantID, tables: [(schema: String, table: String)], on connection: Connection) throws(PostgresError) {
        try connection.execute("BEGIN")
        do throws(PostgresError) {
            try connection.execute("SET LOCAL session_replication_role = replica")
            for (schema, table) in tables {
                try connection.query("DELETE FROM \(SQLText.identifier(schema)).\(SQLText.identifier(table)) WHERE tenant_id = $1", [tenant.rawValue])
            }
            try connection.execute("COMMIT")
        } catch {
            _ = try? connection.execute("ROLLBACK")
            throw error
        }
        for (schema, table) in tables {
            try connection.execute("VACUUM (ANALYZE) \(SQLText.identifier(schema)).\(SQLText.identifier(table))")
        }
    }

    /// Drops `tenant`'s login role from the server of `connection` (connected to the tenant
    /// database, as a superuser): its sessions are ended, what it owns there (temporary
    /// objects, large objects) goes, and its mapping row. Idempotent.
    public static func dropRole(_ tenant: TenantID, on connection: Connection) throws(PostgresError) {
        let role = role(for: tenant)
        try connection.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", [role])
        try connection.query("DELETE FROM residency.tenant_roles WHERE role_name = $1", [role])
        guard try connection.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [role]).rows.isEmpty == false else { return }
        let quoted = SQLText.identifier(role)
        try connection.execute("DROP OWNED BY \(quoted); DROP ROLE \(quoted)")
    }

    /// Inserts `rows` demo rows per product table and app, for `tenant`, on a connection
    /// logged in as the tenant's role, in one transaction. Rows the tenant already has in those
    /// tables go first: they can only be left over from a creation that crashed before the
    /// catalogue recorded the tenant, so running this again gives the same result.
    public static func insertDemoRows(
        _ tenant: TenantID, products: [Product], apps: [App], rows: Int, on connection: Connection
    ) throws(PostgresError) {
        guard rows > 0 else { return }
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
