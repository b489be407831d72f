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
        guard let fencedAt = try connection.query("SELECT clock_timestamp()::text").scalar else {
            throw PostgresError(kind: .statement, message: "no clock_timestamp()", context: connection.address)
        }
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            let older = try connection.query("""
                SELECT count(*) FROM pg_stat_activity
                WHERE xact_start < $1::timestamptz AND pid <> pg_backend_pid() AND backend_type = 'client backend'
                  AND pid <> ALL (string_to_array($2, ',')::int[])
                """, [fencedAt, ignoringBackends.map(String.init).joined(separator: ",")]).scalar ?? "0"
            if older == "0" { break }
            if clock.now >= deadline {
                throw PostgresError(
                    kind: .statement,
                    message: "tenant \(tenant) is frozen, but \(older) transaction(s) begun before the freeze are still open after \(timeout)",
                    context: connection.address)
            }
            usleep(10_000)
        }
        return try connection.query("SELECT pg_current_wal_lsn()::text").scalar ?? ""
    }

    /// Removes `tenant` from `residency.frozen_tenants`.
    public static func unfreeze(_ tenant: TenantID, on connection: Connection) throws(PostgresError) {
        try connection.query("DELETE FROM residency.frozen_tenants WHERE tenant_id = $1", [tenant.rawValue])
    }
}
