import Foundation
import ResidencyCore
import ResidencyPostgres

/// Residency moves in the control database: one row per move, its phase journaled before
/// each step acts. A partial unique index keeps one open move per tenant.
extension ControlStore {
    static let moveColumns = """
        id, phase, plan, retention_days,
        to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        to_char(switched_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        to_char(retain_until AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        copied_rows, lag_bytes, copy_ms, copy_bytes, freeze_ms, reason, rollback_requested, verification, window_start_ms, window_ms,
        source_epoch, target_epoch, catch_up_limit_ms, written_bps, applied_bps, eta_ms
        """

    static func encode(_ plan: MovePlan) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            return String(decoding: try encoder.encode(plan), as: UTF8.self)
        } catch {
            preconditionFailure("a move plan always encodes: \(error)")
        }
    }

    static func move(from row: [String?]) -> Move? {
        guard let id = Int64(row[0] ?? ""), let phase = MovePhase(rawValue: row[1] ?? ""),
              let plan = try? JSONDecoder().decode(MovePlan.self, from: Data((row[2] ?? "").utf8))
        else { return nil }
        var move = Move(
            id: id, plan: plan, phase: phase, createdAt: row[4] ?? "", updatedAt: row[5] ?? "", switchedAt: row[6], retainUntil: row[7],
            retentionDays: Int(row[3] ?? "") ?? 0, copiedRows: Int64(row[8] ?? "") ?? 0, lagBytes: row[9].flatMap { Int64($0) },
            copyMilliseconds: row[10].flatMap { Int64($0) }, copyBytes: row[11].flatMap { Int64($0) },
            freezeMilliseconds: row[12].flatMap { Int64($0) }, reason: row[13] ?? "", rollbackRequested: row[14], verification: row[15] ?? "",
            window: row[16].flatMap { Int64($0) }.flatMap { start in
                row[17].flatMap { Int64($0) }.flatMap { $0 > 0 ? MoveWindow(startMilliseconds: start, durationMilliseconds: $0) : nil }
            },
            epochsAtStart: row[18].flatMap { Int64($0) }.flatMap { source in row[19].flatMap { Int64($0) }.map { (source, $0) } })
        move.catchUpLimitMilliseconds = row[20].flatMap { Int64($0) }
        move.writtenBytesPerSecond = row[21].flatMap { Int64($0) }
        move.appliedBytesPerSecond = row[22].flatMap { Int64($0) }
        move.etaMilliseconds = row[23].flatMap { Int64($0) }
        return move
    }

    /// Records a new move in `planned` (to start when `window` opens, when given); refuses
    /// (invalid input) while the tenant has an open one.
    public func insertMove(_ plan: MovePlan, retentionDays: Int, window: MoveWindow? = nil, catchUpLimit: Duration? = nil) throws(RuntimeError) -> Move {
        let row: [String?]?
        do {
            row = try connection.query("""
                INSERT INTO control.moves (tenant_id, phase, plan, retention_days, window_start_ms, window_ms, catch_up_limit_ms, heartbeat_at)
                VALUES ($1, 'planned', $2, $3::int, $4::bigint, $5::bigint, $6::bigint, clock_timestamp())
                RETURNING \(Self.moveColumns)
                """, [plan.tenant.rawValue, Self.encode(plan), String(retentionDays), window.map { String($0.startMilliseconds) },
                      window.map { String($0.durationMilliseconds) }, catchUpLimit.map { String($0.inMilliseconds) }]).rows.first
        } catch {
            if error.sqlState == "23505", let open = try openMove(of: plan.tenant) {
                throw RuntimeError(.invalidInput, MovePlanner.Refusal.moveOpen(plan.tenant, move: open.id, phase: open.phase).description)
            }
            throw RuntimeError(.unavailable, "control database: \(error)")
        }
        guard let move = row.flatMap(Self.move(from:)) else { throw RuntimeError(.unavailable, "control database: the new move reads back unreadable") }
        try appendEvent(kind: window == nil ? "move.planned" : "move.scheduled", shard: plan.fromShard,
                        detail: "move \(move.id): tenant \(plan.tenant) from \(plan.fromShard) (\(plan.fromRealm)) to \(plan.toShard) (\(plan.toRealm))"
                            + (window.map { " in window \($0)" } ?? ""))
        return move
    }

    /// Records the epochs of the move's source and target shards that its steps rely on
    /// (when it starts, and again after a target failover it survived).
    public func setMoveEpochs(_ id: Int64, source: Int64, target: Int64) throws(RuntimeError) {
        try run { () throws(PostgresError) in
            try connection.query("UPDATE control.moves SET source_epoch = $2::bigint, target_epoch = $3::bigint WHERE id = $1::bigint",
                                 [String(id), String(source), String(target)])
        }
    }

    public func move(_ id: Int64) throws(RuntimeError) -> Move? {
        let row = try run { () throws(PostgresError) in
            try connection.query("SELECT \(Self.moveColumns) FROM control.moves WHERE id = $1::bigint", [String(id)]).rows.first
        }
        return row.flatMap(Self.move(from:))
    }

    /// Every move, oldest first.
    public func moves() throws(RuntimeError) -> [Move] {
        try run { () throws(PostgresError) in
            try connection.query("SELECT \(Self.moveColumns) FROM control.moves ORDER BY id").rows
        }.compactMap(Self.move(from:))
    }

    /// The tenant's open move, if any.
    public func openMove(of tenant: TenantID) throws(RuntimeError) -> (id: Int64, phase: MovePhase)? {
        let row = try run { () throws(PostgresError) in
            try connection.query("""
                SELECT id, phase FROM control.moves WHERE tenant_id = $1 AND phase NOT IN (\(MovePhase.closedSQLList))
                """, [tenant.rawValue]).rows.first
        }
        guard let row, let id = Int64(row[0] ?? ""), let phase = MovePhase(rawValue: row[1] ?? "") else { return nil }
        return (id, phase)
    }

    /// Journals `phase` (and `reason` when given) and logs it as an event.
    public func setMovePhase(_ move: Move, _ phase: MovePhase, reason: String? = nil) throws(RuntimeError) {
        try run { () throws(PostgresError) in
            try connection.query("""
                UPDATE control.moves SET phase = $2, reason = coalesce($3, reason), updated_at = clock_timestamp() WHERE id = $1::bigint
                """, [String(move.id), phase.rawValue, reason])
        }
        try appendEvent(kind: "move.\(phase.rawValue)", shard: move.plan.toShard,
                        detail: "move \(move.id) of \(move.tenant)" + (reason.map { ": \($0)" } ?? ""))
    }

    /// Rows copied so far (catch-up's lag and rates: `setMoveCatchUp`).
    public func setMoveProgress(_ id: Int64, copiedRows: Int64) throws(RuntimeError) {
        try run { () throws(PostgresError) in
            try connection.query("UPDATE control.moves SET copied_rows = $2::bigint, updated_at = clock_timestamp() WHERE id = $1::bigint",
                                 [String(id), String(copiedRows)])
        }
    }

    public func setMoveCopy(_ id: Int64, milliseconds: Int64, bytes: Int64) throws(RuntimeError) {
        try run { () throws(PostgresError) in
            try connection.query("UPDATE control.moves SET copy_ms = $2::bigint, copy_bytes = $3::bigint WHERE id = $1::bigint",
                                 [String(id), String(milliseconds), String(bytes)])
        }
    }

    /// The write freeze as measured after the switch committed; `steps` says where it went.
    public func setMoveFreeze(_ id: Int64, milliseconds: Int64, steps: String) throws(RuntimeError) {
        try run { () throws(PostgresError) in
            try connection.query("""
                UPDATE control.moves SET freeze_ms = $2::bigint, verification = verification || ' · freeze: ' || $3 WHERE id = $1::bigint
                """, [String(id), String(milliseconds), steps])
        }
    }

    public func setMoveVerification(_ id: Int64, _ text: String) throws(RuntimeError) {
        try run { () throws(PostgresError) in
            try connection.query("UPDATE control.moves SET verification = $2 WHERE id = $1::bigint", [String(id), text])
        }
    }

    /// Asks the process executing move `id` to roll it back.
    public func requestMoveRollback(_ id: Int64, reason: String) throws(RuntimeError) {
        try run { () throws(PostgresError) in
            try connection.query("UPDATE control.moves SET rollback_requested = $2 WHERE id = $1::bigint", [String(id), reason])
        }
    }

    /// The switch, in one transaction: the tenant's catalogue entry points at the target
    /// (apps that stay keep their shard), the move is `switched` with its retention date.
    public func switchMove(_ move: Move, appShards: [String: ShardID], freezeMilliseconds: Int64) throws(RuntimeError) {
        let plan = move.plan
        try transaction { () throws(PostgresError) in
            try connection.query("""
                UPDATE control.tenants SET realm = $2, shard_id = $3, app_shards = string_to_array($4, ',') WHERE tenant_id = $1
                """, [plan.tenant.rawValue, plan.toRealm.rawValue, plan.toShard.rawValue,
                      appShards.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")])
            try connection.query("""
                UPDATE control.moves SET phase = 'switched', switched_at = clock_timestamp(),
                    retain_until = clock_timestamp() + make_interval(days => retention_days), freeze_ms = $2::bigint,
                    updated_at = clock_timestamp()
                WHERE id = $1::bigint
                """, [String(move.id), String(freezeMilliseconds)])
            try connection.query("INSERT INTO control.events (kind, shard_id, duration_ms, detail) VALUES ('move.switched', $1, $2::bigint, $3)",
                                 [plan.toShard.rawValue, String(freezeMilliseconds),
                                  "move \(move.id): tenant \(plan.tenant) now on \(plan.toShard) (\(plan.toRealm)); writes were frozen \(freezeMilliseconds) ms"])
        }
    }

    /// A pin-only move: the tenant's realm changes, its data stays; recorded as an ended move.
    public func repin(_ plan: MovePlan) throws(RuntimeError) -> Int64 {
        var id: Int64 = 0
        try transaction { () throws(PostgresError) in
            try connection.query("UPDATE control.tenants SET realm = $2 WHERE tenant_id = $1", [plan.tenant.rawValue, plan.toRealm.rawValue])
            id = Int64(try connection.query("""
                INSERT INTO control.moves (tenant_id, phase, plan, retention_days, switched_at, freeze_ms, reason)
                VALUES ($1, 'purged', $2, 0, clock_timestamp(), 0, 'pin only: no data moved') RETURNING id
                """, [plan.tenant.rawValue, Self.encode(plan)]).scalar ?? "") ?? 0
            try connection.query("INSERT INTO control.events (kind, shard_id, detail) VALUES ('move.repinned', $1, $2)",
                                 [plan.fromShard.rawValue, "move \(id): tenant \(plan.tenant) pinned to \(plan.toRealm) (was \(plan.fromRealm)); its shard lies in that realm, no data moved"])
        }
        return id
    }

    /// Copy throughput and write freezes of earlier moves, for plans.
    public func moveHistory() throws(RuntimeError) -> MoveHistory {
        let rows = try run { () throws(PostgresError) in
            try connection.query("""
                SELECT copy_bytes * 1000 / greatest(copy_ms, 1), freeze_ms FROM control.moves
                WHERE phase IN ('switched', 'retained', 'purged') AND copy_ms IS NOT NULL AND copy_bytes > 0 ORDER BY id DESC LIMIT 20
                """).rows
        }
        return MoveHistory(copyBytesPerSecond: rows.compactMap { $0[0].flatMap { Int64($0) } },
                           freezeMilliseconds: rows.compactMap { $0[1].flatMap { Int64($0) } })
    }

    /// The control server's clock as `YYYY-MM-DDTHH:MM:SSZ` (the format of move dates).
    public func nowISO8601() throws(RuntimeError) -> String {
        try run { () throws(PostgresError) in
            try connection.query("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')").scalar ?? ""
        }
    }

    /// Retained moves whose retention has ended.
    public func movesDueForPurge() throws(RuntimeError) -> [Int64] {
        try run { () throws(PostgresError) in
            try connection.query("SELECT id FROM control.moves WHERE phase = 'retained' AND retain_until <= clock_timestamp() ORDER BY id").rows
        }.compactMap { $0[0].flatMap { Int64($0) } }
    }

    /// The move as its executor sees it before deciding, with the control server's clock
    /// (milliseconds since 1970); stamps the executor's heartbeat in the same statement.
    public func observeMove(_ id: Int64) throws(RuntimeError) -> (move: Move, clockMilliseconds: Int64) {
        let row = try run { () throws(PostgresError) in
            try connection.query("""
                UPDATE control.moves SET heartbeat_at = clock_timestamp() WHERE id = $1::bigint
                RETURNING \(Self.moveColumns), (extract(epoch FROM clock_timestamp()) * 1000)::bigint
                """, [String(id)]).rows.first
        }
        guard let row, let move = Self.move(from: row), let clock = row.last.flatMap({ $0.flatMap { Int64($0) } }) else {
            throw RuntimeError(.unavailable, "control database: move \(id) is gone")
        }
        return (move, clock)
    }

    /// The executor of move `id` is alive.
    public func stampMoveHeartbeat(_ id: Int64) throws(RuntimeError) {
        try run { () throws(PostgresError) in
            try connection.query("UPDATE control.moves SET heartbeat_at = clock_timestamp() WHERE id = $1::bigint", [String(id)])
        }
    }

    /// Why the current step of move `id` is being retried (what `move status` shows).
    public func setMoveReason(_ id: Int64, _ reason: String) throws(RuntimeError) {
        try run { () throws(PostgresError) in
            try connection.query("UPDATE control.moves SET reason = $2, updated_at = clock_timestamp() WHERE id = $1::bigint", [String(id), reason])
        }
    }

    /// Catch-up's figures: lag, rates, ETA.
    public func setMoveCatchUp(_ id: Int64, _ trend: CatchUpTrend) throws(RuntimeError) {
        try run { () throws(PostgresError) in
            try connection.query("""
                UPDATE control.moves SET lag_bytes = $2::bigint, written_bps = $3::bigint, applied_bps = $4::bigint, eta_ms = $5::bigint,
                    heartbeat_at = clock_timestamp(), updated_at = clock_timestamp()
                WHERE id = $1::bigint
                """, [String(id), trend.lagBytes.map(String.init), trend.writtenBytesPerSecond.map(String.init),
                      trend.appliedBytesPerSecond.map(String.init), trend.eta.map { String($0.inMilliseconds) }])
        }
    }

    /// Every move that is not ended, with the age of its heartbeat (milliseconds; `nil`
    /// when never stamped), whether another session holds its executor lock, and the
    /// control server's clock.
    public func movesToWatch() throws(RuntimeError) -> [(move: Move, heartbeatAgeMilliseconds: Int64?, locked: Bool, clockMilliseconds: Int64)] {
        let rows = try run { () throws(PostgresError) in
            try connection.query("""
                SELECT \(Self.moveColumns),
                    (extract(epoch FROM clock_timestamp() - heartbeat_at) * 1000)::bigint,
                    EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
                            AND l.classid = hashtext('residency.move')::oid AND l.objid = m.id::int::oid AND l.pid <> pg_backend_pid()),
                    (extract(epoch FROM clock_timestamp()) * 1000)::bigint
                FROM control.moves m WHERE phase NOT IN ('retained', 'purged', 'rolled-back', 'cancelled') ORDER BY id
                """).rows
        }
        return rows.compactMap { row in
            guard let move = Self.move(from: row) else { return nil }
            let extra = row.suffix(3).map { $0 }
            return (move, extra[0].flatMap { Int64($0) }, extra[1] == "t", extra[2].flatMap { Int64($0) } ?? 0)
        }
    }

    /// Ends the control session that holds move `id`'s executor lock (a frozen executor):
    /// the lock is freed and that executor's next journal write fails.
    public func deposeMoveExecutor(_ id: Int64) throws(RuntimeError) {
        try run { () throws(PostgresError) in
            _ = try connection.query("""
                SELECT pg_terminate_backend(l.pid) FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
                    AND l.classid = hashtext('residency.move')::oid AND l.objid = $1::int::oid AND l.pid <> pg_backend_pid()
                """, [String(id)])
        }
    }

    /// Takes the session-level advisory lock that marks move `id` as being executed by this
    /// connection's process; `false` when another process executes it. Released when the
    /// process (its connection) ends, so a crashed executor never blocks a rollback.
    public func lockMove(_ id: Int64) throws(RuntimeError) -> Bool {
        try run { () throws(PostgresError) in
            try connection.query("SELECT pg_try_advisory_lock(hashtext('residency.move'), $1::int)", [String(id)]).scalar == "t"
        }
    }

    public func unlockMove(_ id: Int64) throws(RuntimeError) {
        try run { () throws(PostgresError) in
            _ = try connection.query("SELECT pg_advisory_unlock(hashtext('residency.move'), $1::int)", [String(id)])
        }
    }
}
