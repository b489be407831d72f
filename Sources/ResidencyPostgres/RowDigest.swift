import ResidencyCore

/// `TableDigest`s of a tenant's rows computed by the server: count, and the sum modulo
/// 2^64 of `hashtextextended(row::text, 0)` over the rows. A row's text depends on session
/// settings (time zone, date style), so `prepare` pins them on both sides of a comparison.
public enum RowDigest {
    /// Run once per connection before computing digests that are compared with another server's.
    /// Also makes the planner use generic plans: a custom plan for `tenant_id = '<a tenant
    /// newer than the statistics>'` probes the index for the column's actual range, walking
    /// through the tenant's freshly inserted, not yet all-visible entries; that took 100-500 ms
    /// here for a query of a few index probes, inside the write freeze. JIT is off for the
    /// same reason (compiling costs more than these queries run).
    public static func prepare(_ connection: Connection) throws(PostgresError) {
        try connection.execute("""
            SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres';
            SET extra_float_digits = 1; SET bytea_output = 'hex'; SET jit = off;
            SET plan_cache_mode = force_generic_plan
            """)
    }

    /// The digest of `tenant`'s rows of `schema.table`; only of the rows with these `ids` when given.
    public static func digest(
        schema: String, table: String, tenant: TenantID, ids: [String]? = nil, on connection: Connection
    ) throws(PostgresError) -> TableDigest {
        if let ids, ids.isEmpty { return .empty }
        let name = "\(SQLText.identifier(schema)).\(SQLText.identifier(table))"
        // With keys: one index probe per key (a join on unnest), not a scan of the tenant's rows.
        let row = try connection.query(ids == nil ? """
            SELECT count(*)::text, ((coalesce(sum(hashtextextended(t::text, 0)), 0) % 18446744073709551616 + 18446744073709551616)
                   % 18446744073709551616)::text
            FROM \(name) t WHERE tenant_id = $1
            """ : """
            SELECT count(*)::text, ((coalesce(sum(hashtextextended(t::text, 0)), 0) % 18446744073709551616 + 18446744073709551616)
                   % 18446744073709551616)::text
            FROM (SELECT DISTINCT k FROM unnest($2::uuid[]) k) keys CROSS JOIN LATERAL (
                SELECT * FROM \(name) r WHERE r.tenant_id = $1 AND r.id = keys.k) t
            """, [tenant.rawValue] + (ids.map { ["{" + $0.joined(separator: ",") + "}"] } ?? [])).rows.first
        return TableDigest(count: Int64(row?[0] ?? "") ?? 0, sum: UInt64(row?[1] ?? "") ?? 0)
    }
}
