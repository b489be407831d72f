/// Judges a drill's history: what was lost, duplicated, acknowledged by a stale primary,
/// stored outside its realm, how long each shard was unavailable, and what every minute
/// means for the SLA. Pure: the same history gives the same findings.
public struct HistoryChecker: Sendable {
    /// An acknowledgement by a node after another node of its shard was promoted.
    public struct StaleAcknowledgement: Hashable, Sendable {
        public let write: DrillHistory.Write
        public let successor: NodeID
        /// Whether the row is on the final primary: if not, that is what split brain cost.
        public let survived: Bool
    }

    /// A tenant's row on a node outside the regions of its realm.
    public struct ResidencyViolation: Hashable, Sendable {
        public let row: DrillHistory.StoredRow
        public let region: RegionID?
        public let realm: RealmID
    }

    /// Acknowledged writes whose row is not on their shard's final primary (the RPO, in writes).
    public let lostWrites: [DrillHistory.Write]
    /// Ids acknowledged more than once, or stored more than once on one node.
    public let duplicates: [String]
    public let staleAcknowledgements: [StaleAcknowledgement]
    public let residencyViolations: [ResidencyViolation]
    /// Per shard hit by a fault: from the first fault on its primary's zone to the first
    /// write acknowledged by a node whose zone was not faulted when the write began,
    /// invoked before the next `heal`; `nil` when writes did not resume (the shard stayed down).
    public let recoveryByShard: [ShardID: Int64?]
    /// Per tenant: requests and failures per UTC minute (unknown counts as failed).
    public let minutesByTenant: [TenantID: [MinuteSample]]
    /// Per drill move, in order: what its tenant and its neighbours saw while it ran.
    public let moves: [MoveFinding]
    /// Faults that never fired (the move phase they waited for never came).
    public let missedFaults: [String]
    /// Per tenant restore, in order: what came back and what did not.
    public let restores: [RestoreFinding]
    /// Per tenant not restored (when the scenario restores one): rows gained (+) or lost (-)
    /// beyond its own drill writes found on its primary. Must be 0.
    public let unexplainedRowChanges: [TenantID: Int64]

    /// One tenant restore judged: every write acknowledged before the target is back; no write
    /// begun after it and ended before the swap is (the restore undid it, as it must).
    public struct RestoreFinding: Hashable, Sendable {
        public let restore: DrillHistory.TenantRestore
        /// Acknowledged before the target: found / missing.
        public let acknowledgedBefore: Int
        public let missingBefore: [String]
        /// Begun after the target, ended before the swap: absent as expected / present.
        public let undone: Int
        public let resurrected: [String]
    }

    /// The writes around one move: from its start to its end.
    public struct MoveFinding: Hashable, Sendable {
        public let move: DrillHistory.Move
        /// The moving tenant's longest stretch without an acknowledged write (from the move's
        /// start, between acknowledgements, to its end): its write unavailability.
        public let longestGapMs: Int64
        /// The moving tenant's attempts that failed or ended unknown during the move.
        public let failedWrites: Int
        /// Tenants whose shard is the move's source or target (the moving one excluded).
        public let neighbours: [TenantID]
        /// Their attempts, invoked during the move, that failed or ended unknown.
        public let neighbourFailures: Int
        public let neighbourAcknowledged: Int
        /// The first few of those failures: tenant, outcome and what the client saw.
        public let neighbourErrors: [String]
    }

    public init(history: DrillHistory, topology: Topology, realms: [TenantID: RealmID]) {
        let onFinalPrimary: Set<String> = Set(history.rows.filter { history.finalPrimaries[$0.node.shard] == $0.node }.map(\.id))
        let acknowledged = history.writes.filter { $0.outcome == .ok }
        // A restored tenant's writes from after its target until its swap are undone on
        // purpose; one that straddles the target may or may not be.
        let windows = Dictionary(grouping: history.restores.filter { $0.error == nil && $0.swappedAtMs != nil }, by: \.tenant)
        func undoneOnPurpose(_ write: DrillHistory.Write) -> Bool {
            windows[write.tenant]?.contains { write.completedAtMs > $0.targetMs && write.completedAtMs <= $0.swappedAtMs! } ?? false
        }
        lostWrites = acknowledged.filter { !onFinalPrimary.contains($0.id) && !undoneOnPurpose($0) }
        restores = history.restores.map { restore in
            let own = history.writes.filter { $0.tenant == restore.tenant }
            let before = own.filter { $0.outcome == .ok && $0.completedAtMs < restore.targetMs }
            let after = own.filter { $0.invokedAtMs > restore.targetMs && $0.completedAtMs <= (restore.swappedAtMs ?? .max) }
            return RestoreFinding(
                restore: restore, acknowledgedBefore: before.filter { onFinalPrimary.contains($0.id) }.count,
                missingBefore: before.filter { !onFinalPrimary.contains($0.id) }.map(\.id),
                undone: after.filter { !onFinalPrimary.contains($0.id) }.count,
                resurrected: after.filter { onFinalPrimary.contains($0.id) }.map(\.id))
        }
        var changes: [TenantID: Int64] = [:]
        for count in history.rowCounts {
            let found = Int64(Set(history.rows.filter { $0.tenant == count.tenant && history.finalPrimaries[$0.node.shard] == $0.node }.map(\.id)).count)
            changes[count.tenant] = count.after - count.before - found
        }
        unexplainedRowChanges = changes

        var seen: [String: Int] = [:]
        for write in acknowledged { seen[write.id, default: 0] += 1 }
        var perNode: [String: Int] = [:]
        for row in history.rows { perNode["\(row.node)|\(row.id)", default: 0] += 1 }
        let storedTwice = perNode.filter { $0.value > 1 }.map { String($0.key.split(separator: "|").last ?? "") }
        duplicates = Array(Set(seen.filter { $0.value > 1 }.map(\.key) + storedTwice)).sorted()

        let promotionsByShard = Dictionary(grouping: history.promotions.sorted { $0.atMs < $1.atMs }, by: \.node.shard)
        staleAcknowledgements = acknowledged.compactMap { write in
            guard let node = write.acknowledgedBy,
                  let latest = promotionsByShard[node.shard]?.last(where: { $0.atMs < write.completedAtMs }),
                  latest.node != node
            else { return nil }
            return StaleAcknowledgement(write: write, successor: latest.node, survived: onFinalPrimary.contains(write.id))
        }

        residencyViolations = history.rows.compactMap { row in
            guard let realm = realms[row.tenant] else { return nil }
            let region = topology.region(ofZone: row.node.zone)
            let allowed = topology.realm(realm)?.regions ?? []
            guard let region, allowed.contains(region) else {
                return ResidencyViolation(row: row, region: region, realm: realm)
            }
            return nil
        }

        var recovery: [ShardID: Int64?] = [:]
        for (shard, initial) in history.initialPrimaries {
            var primary = initial
            var hit: Int64?
            let events = (history.faults.map { (at: $0.atMs, fault: Optional($0), promotion: DrillHistory.Promotion?.none) }
                + (promotionsByShard[shard] ?? []).map { (at: $0.atMs, fault: DrillHistory.Fault?.none, promotion: Optional($0)) })
                .sorted { $0.at < $1.at }
            for event in events {
                if let promotion = event.promotion { primary = promotion.node }
                if hit == nil, let fault = event.fault, fault.zone == primary.zone { hit = fault.atMs }
            }
            guard let start = hit else { continue }
            let healedAt = history.faults.filter { $0.atMs >= start && $0.action == "heal" }.map(\.atMs).min() ?? .max
            // A write shows recovery when the zone of the node that acknowledged it had not
            // been hit by a fault (since `start`) when the write was invoked.
            let resumed = acknowledged
                .filter { ($0.acknowledgedBy?.shard ?? $0.shard) == shard && $0.invokedAtMs >= start && $0.invokedAtMs < healedAt }
                .filter { write in
                    guard let zone = write.acknowledgedBy?.zone else { return false }
                    return !history.faults.contains { $0.zone == zone && $0.atMs >= start && $0.atMs <= write.invokedAtMs }
                }
                .map(\.completedAtMs).min()
            recovery.updateValue(resumed.map { $0 - start }, forKey: shard)
        }
        recoveryByShard = recovery

        moves = history.moves.map { Self.finding(for: $0, in: history) }
        missedFaults = history.missedFaults

        var minutes: [TenantID: [Int64: MinuteSample]] = [:]
        for write in history.writes {
            let minute = write.invokedAtMs / 60_000
            var sample = minutes[write.tenant]?[minute] ?? MinuteSample(minute: minute, requests: 0, failures: 0)
            sample.requests += 1
            if write.outcome != .ok { sample.failures += 1 }
            minutes[write.tenant, default: [:]][minute] = sample
        }
        minutesByTenant = minutes.mapValues { $0.values.sorted { $0.minute < $1.minute } }
    }

    static func finding(for move: DrillHistory.Move, in history: DrillHistory) -> MoveFinding {
        let during = history.writes.filter { $0.invokedAtMs <= move.endedAtMs && $0.completedAtMs >= move.startedAtMs }
        let own = during.filter { $0.tenant == move.tenant }
        var last = move.startedAtMs
        var gap: Int64 = 0
        for done in own.filter({ $0.outcome == .ok }).map(\.completedAtMs).sorted() where done >= move.startedAtMs {
            gap = max(gap, min(done, move.endedAtMs) - last)
            last = max(last, done)
        }
        gap = max(gap, move.endedAtMs - last)
        let shards = Set([move.fromShard, move.toShard].compactMap { $0 })
        let neighbourWrites = during.filter { $0.tenant != move.tenant && shards.contains($0.shard) && $0.invokedAtMs >= move.startedAtMs }
        return MoveFinding(
            move: move, longestGapMs: gap, failedWrites: own.filter { $0.outcome != .ok }.count,
            neighbours: Set(neighbourWrites.map(\.tenant)).sorted(),
            neighbourFailures: neighbourWrites.filter { $0.outcome != .ok }.count,
            neighbourAcknowledged: neighbourWrites.filter { $0.outcome == .ok }.count,
            neighbourErrors: neighbourWrites.filter { $0.outcome != .ok }.prefix(3).map { write in
                "\(write.tenant) \(write.outcome.rawValue) after \(write.completedAtMs - write.invokedAtMs) ms: \(write.error ?? "no error text")"
            })
    }

    /// The RPO in acknowledged writes: lost ones, plus stale acknowledgements that did not survive.
    public var lostAcknowledged: Int {
        Set(lostWrites.map(\.id)).union(staleAcknowledgements.filter { !$0.survived }.map(\.write.id)).count
    }

    /// The longest recovery among the shards that recovered; `nil` when none was hit.
    public var worstRecoveryMs: Int64? { recoveryByShard.values.compactMap { $0 }.max() }

    /// Shards a fault hit whose writes never resumed on another node.
    public var unrecoveredShards: [ShardID] { recoveryByShard.filter { $0.value == nil }.map(\.key).sorted() }
}
