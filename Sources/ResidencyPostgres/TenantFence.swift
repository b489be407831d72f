import Foundation
import ResidencyCore

/// Freezes and thaws a tenant's writes on one primary (see `TenantSchema`).
public enum TenantFence {
    /// Lists `tenant` in `residency.frozen_tenants` (for the tables in `schemas`; all when
    /// `nil`), then waits until every transaction that began before that listing has ended,
    /// so that nothing of the tenant commits after the returned LSN. Throws (leaving the
    /// tenant frozen) if they have not ended by `timeout`. `ignoringBackends` are pids of
    /// read-only sessions of the caller itself (a move's open verification snapshot).
    @discardableResult
    public static func freeze(
        _ tenant: TenantID, schemas: [String]? = nil, reason: String, on connection: Connection, timeout: Duration = .seconds(30),
        ignoringBackends: [Int32] = []
    ) throws(PostgresError) -> String {
        try connection.query("""
            INSERT INTO residency.frozen_tenants (tenant_id, reason, schemas) VALUES ($1, $2, string_to_array($3, ','))
            ON CONFLICT (tenant_id) DO UPDATE SET schemas = EXCLUDED.schemas, reason = EXCLUDED.reason
            """, [tenant.rawValue, reason, schemas?.joined(separator: ",")])
        let fencedAt = try connection.serverNow()
        try connection.waitForTransactions(
            begunBefore: fencedAt, backendTypes: ["client backend"], ignoring: ignoringBackends, timeout: timeout, pollEvery: .milliseconds(10),
            what: "tenant \(tenant) is frozen")
        return try connection.query("SELECT pg_current_wal_lsn()::text").scalar ?? ""
    }

    /// Removes `tenant` from `residency.frozen_tenants`.
    public static func unfreeze(_ tenant: TenantID, on connection: Connection) throws(PostgresError) {
        try connection.query("DELETE FROM residency.frozen_tenants WHERE tenant_id = $1", [tenant.rawValue])
    }
}
