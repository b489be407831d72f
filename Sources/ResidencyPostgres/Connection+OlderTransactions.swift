import Foundation

extension Connection {
    /// The server's clock now, as text for `waitForTransactions(begunBefore:...)`.
    public func serverNow() throws(PostgresError) -> String {
        guard let now = try query("SELECT clock_timestamp()::text").scalar else {
            throw PostgresError(kind: .statement, message: "no clock_timestamp()", context: address)
        }
        return now
    }

    /// Waits until every transaction of `backendTypes` that began before `moment` (see
    /// `serverNow`) has ended, except this session's and `ignoring`'s. Both the write fence
    /// and a move's change tracking rely on it: a transaction that began later sees their
    /// setting. Throws after `timeout`, saying `what` waited and how many are still open.
    public func waitForTransactions(
        begunBefore moment: String, backendTypes: [String], ignoring: [Int32] = [], timeout: Duration, pollEvery: Duration,
        what: String
    ) throws(PostgresError) {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            let older = try query("""
                SELECT count(*) FROM pg_stat_activity
                WHERE xact_start < $1::timestamptz AND pid <> pg_backend_pid() AND backend_type = ANY (string_to_array($2, ','))
                  AND pid <> ALL (string_to_array($3, ',')::int[])
                """, [moment, backendTypes.joined(separator: ","), ignoring.map(String.init).joined(separator: ",")]).scalar ?? "0"
            if older == "0" { return }
            if clock.now >= deadline {
                throw PostgresError(kind: .statement, message: "\(what), but \(older) transaction(s) begun before are still open after \(timeout)",
                                    context: address)
            }
            Thread.sleep(forTimeInterval: pollEvery.inSeconds)
        }
    }

    /// Waits until every transaction that is committed but not visible yet has become
    /// visible: a commit waiting for its synchronous standby (`wait_event = 'SyncRep'`) is
    /// already in the WAL, so logical decoding ships it and a subscriber may apply and show
    /// it, while snapshots here still count it as running. A snapshot taken afterwards sees
    /// every commit that anyone downstream can have seen before this call. Throws after
    /// `timeout` (a standby that stopped acknowledging), saying how many still wait.
    public func waitForCommitsToShow(timeout: Duration, pollEvery: Duration) throws(PostgresError) {
        let waiting = try query("""
            SELECT coalesce(string_agg(backend_xid::text, ','), '') FROM pg_stat_activity
            WHERE wait_event = 'SyncRep' AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()
            """).scalar ?? ""
        guard !waiting.isEmpty else { return }
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            let left = try query("""
                SELECT count(*) FROM pg_stat_activity WHERE backend_xid::text = ANY (string_to_array($1, ','))
                """, [waiting]).scalar ?? "0"
            if left == "0" { return }
            if clock.now >= deadline {
                throw PostgresError(kind: .statement, message: "\(left) committed transaction(s) still wait for their synchronous standby after \(timeout)",
                                    context: address)
            }
            Thread.sleep(forTimeInterval: pollEvery.inSeconds)
        }
    }
}
