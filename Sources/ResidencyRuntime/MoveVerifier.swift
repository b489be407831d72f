import Foundation
import ResidencyCore
import ResidencyPostgres

/// Verification of a move: count and multiset hash of every moving table on both sides,
/// taken mostly before the freeze and completed during it over the keys changed since
/// (see `MoveVerification` for the arithmetic). Reports what it found; the driver decides.
struct MoveVerifier {
    let context: MoveContext

    /// Digests every moving table on the target (snapshot first) and then on the source,
    /// leaving both snapshots open for `verify`. The source's snapshot must see at least
    /// every source commit that the target's shows.
    func preCheck(_ session: MoveSession) throws(RuntimeError) {
        let plan = session.plan
        let (target, _) = try context.primary(of: plan.toShard)
        let (source, _) = try context.primary(of: plan.fromShard)
        session.preCheck = try context.sql(source) { () throws(PostgresError) in
            try RowDigest.prepare(target)
            try RowDigest.prepare(source)
            try target.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            let snapshot = try target.query("SELECT pg_current_snapshot()::text").scalar ?? ""
            // The target may already show a source commit that the source's own snapshots do
            // not show yet (it waits for the source's synchronous standby; the subscription
            // applies without waiting): a row in the target's snapshot and missing from the
            // source's would be in neither side's changed keys. The source's snapshot is
            // taken once every such commit has become visible there.
            try source.waitForCommitsToShow(timeout: context.settings.freezeTimeout, pollEvery: .milliseconds(1))
            try source.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            let pid = Int32(try source.query("SELECT pg_backend_pid()").scalar ?? "") ?? 0
            var check = MoveSession.PreCheck(sourceSnapshot: source, targetSnapshot: target, targetSnapshotID: snapshot, sourcePID: pid, source: [:], target: [:])
            for (name, schema, table) in session.movingTables {
                check.target[name] = try RowDigest.digest(schema: schema, table: table, tenant: plan.tenant, on: target)
                check.source[name] = try RowDigest.digest(schema: schema, table: table, tenant: plan.tenant, on: source)
            }
            return check
        }
    }

    /// Right before the freeze: digests the keys changed since the pre-check so far, in the
    /// pre-check's snapshots, while writers still write (the freeze then hashes only the
    /// keys changed after these, plus every changed key afresh).
    func digestEarlyChanges(_ session: MoveSession) throws(RuntimeError) {
        guard var check = session.preCheck else { return }
        let sides = try session.sides()
        let plan = session.plan
        try context.sql(sides.target) { () throws(PostgresError) in
            let early = try sides.copy.changedKeys(since: check.targetSnapshotID, on: sides.target)
            for (name, schema, table) in session.movingTables {
                let ids = early[name] ?? []
                check.earlyKeys[name] = Set(ids)
                check.earlySource[name] = try RowDigest.digest(schema: schema, table: table, tenant: plan.tenant, ids: ids, on: check.sourceSnapshot)
                check.earlyTarget[name] = try RowDigest.digest(schema: schema, table: table, tenant: plan.tenant, ids: ids, on: check.targetSnapshot)
            }
        }
        session.preCheck = check
    }

    /// Waits (up to `timeout`) until the target has applied everything up to the freeze,
    /// then compares every table. Without a pre-check (a resumed move, or one after a
    /// target failover) it digests every row now, while the tenant is frozen. Returns the
    /// differences (none: verified); the summary is recorded on the move either way.
    func verify(_ session: MoveSession, timeout: Duration) throws(RuntimeError) -> [MoveVerification.Difference] {
        let plan = session.plan
        let sides = try session.sides()
        session.freezeSteps.append(("apply", try session.markerRoundTrip(timeout: timeout)))
        let tables = session.movingTables
        var source: [String: MoveVerification.Side] = [:]
        var target: [String: MoveVerification.Side] = [:]
        var changedRows = 0
        let check = session.preCheck
        try context.sql(sides.target) { () throws(PostgresError) in
            try RowDigest.prepare(sides.source)
            try RowDigest.prepare(sides.target)
            if let check {
                var clock = ContinuousClock.now
                func lap(_ name: String) {
                    session.freezeSteps.append((name, ContinuousClock.now - clock))
                    clock = .now
                }
                let changed = try sides.copy.changedKeys(since: check.targetSnapshotID, on: sides.target)
                changedRows = changed.values.map(\.count).reduce(0, +)
                lap("changed keys")
                var late: [String: [String]] = [:]
                for (name, _, _) in tables { late[name] = (changed[name] ?? []).filter { !(check.earlyKeys[name] ?? []).contains($0) } }
                var parts: [String: TableDigest] = [:]
                for (name, schema, table) in tables {
                    parts["s" + name] = try RowDigest.digest(schema: schema, table: table, tenant: plan.tenant, ids: late[name] ?? [], on: check.sourceSnapshot)
                }
                lap("source late keys then")
                for (name, schema, table) in tables {
                    parts["t" + name] = try RowDigest.digest(schema: schema, table: table, tenant: plan.tenant, ids: late[name] ?? [], on: check.targetSnapshot)
                }
                lap("target late keys then")
                for (name, schema, table) in tables {
                    source[name] = MoveVerification.Side(
                        preCheck: check.source[name] ?? .empty, changedAtPreCheck: (check.earlySource[name] ?? .empty) + (parts["s" + name] ?? .empty),
                        changedNow: try RowDigest.digest(schema: schema, table: table, tenant: plan.tenant, ids: changed[name] ?? [], on: sides.source))
                }
                lap("source keys now")
                for (name, schema, table) in tables {
                    target[name] = MoveVerification.Side(
                        preCheck: check.target[name] ?? .empty, changedAtPreCheck: (check.earlyTarget[name] ?? .empty) + (parts["t" + name] ?? .empty),
                        changedNow: try RowDigest.digest(schema: schema, table: table, tenant: plan.tenant, ids: changed[name] ?? [], on: sides.target))
                }
                lap("target keys now")
                _ = try? check.sourceSnapshot.execute("COMMIT")
                _ = try? check.targetSnapshot.execute("COMMIT")
            } else {
                for (name, schema, table) in tables {
                    source[name] = MoveVerification.Side(preCheck: try RowDigest.digest(schema: schema, table: table, tenant: plan.tenant, on: sides.source))
                    target[name] = MoveVerification.Side(preCheck: try RowDigest.digest(schema: schema, table: table, tenant: plan.tenant, on: sides.target))
                }
            }
        }
        session.preCheck = nil
        let names = tables.map(\.name)
        let differences = MoveVerification.differences(tables: names, source: source, target: target)
        let rows = names.map { source[$0]?.now.count ?? 0 }.reduce(0, +)
        let summary = differences.isEmpty
            ? "\(names.count) tables, \(rows) rows: count and multiset hash equal on both sides (\(changedRows) rows changed after the pre-check re-hashed)"
            : "differences: " + differences.map { "\($0) (\(rowsOnOneSide($0.table, session, sides)))" }.joined(separator: "; ")
        try context.control.setMoveVerification(session.move.id, summary)
        return differences
    }

    /// For a table that differs: up to five keys of rows that only one side holds now
    /// (`schema.table`), with the row's `key` column where it has one; found by comparing
    /// the full key lists, which only a failed verification pays for.
    func rowsOnOneSide(_ name: String, _ session: MoveSession, _ sides: MoveSession.Sides) -> String {
        guard let (_, schema, table) = session.movingTables.first(where: { $0.name == name }) else { return "?" }
        let sql = "SELECT id::text FROM \(SQLText.identifier(schema)).\(SQLText.identifier(table)) WHERE tenant_id = $1"
        guard let source = try? sides.source.query(sql, [session.plan.tenant.rawValue]).rows.compactMap({ $0[0] }),
              let target = try? sides.target.query(sql, [session.plan.tenant.rawValue]).rows.compactMap({ $0[0] })
        else { return "rows not listed: a side did not answer" }
        let onlySource = Set(source).subtracting(target).sorted().prefix(5)
        let onlyTarget = Set(target).subtracting(source).sorted().prefix(5)
        if onlySource.isEmpty && onlyTarget.isEmpty { return "the same keys on both sides: some row's content differs" }
        func rows(_ ids: ArraySlice<String>, on connection: Connection) -> String {
            let found = try? connection.query(
                "SELECT left(row_to_json(t)::text, 160) FROM \(SQLText.identifier(schema)).\(SQLText.identifier(table)) t WHERE tenant_id = $1 AND id = ANY ($2::uuid[])",
                [session.plan.tenant.rawValue, "{" + ids.joined(separator: ",") + "}"]).rows.compactMap { $0[0] }
            return (found ?? Array(ids)).joined(separator: ", ")
        }
        return "only on the source: [\(rows(onlySource, on: sides.source))]; only on the target: [\(rows(onlyTarget, on: sides.target))]"
    }
}
