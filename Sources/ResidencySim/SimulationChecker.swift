import ResidencyCore

/// The safety rules a run must keep, checked as the history happens: the engine reports
/// each acknowledgement, promotion and probe round, and the end of the run; a broken rule
/// becomes a violation with the simulated time it happened at. Kept apart from the engine so
/// a test can feed it a hand-made bad history. Nodes and shards are numbers (positions in
/// `names` and `shards`).
struct SimulationChecker {
    private(set) var violations: [String] = []
    private let names: [NodeID]
    private let shards: [ShardID]
    /// Per shard, acknowledged records no later acknowledged record descends from: every
    /// acknowledged record is one of them or an ancestor of one.
    private var frontier: [[Int]]
    /// When each node was last promoted (initial primaries at 0, others never: -1).
    private var promotedAt: [Int]
    private(set) var lastAcknowledgement: [Int]

    init(names: [NodeID], shards: [ShardID], initialPrimaries: [Int]) {
        self.names = names
        self.shards = shards
        frontier = Array(repeating: [], count: shards.count)
        lastAcknowledgement = Array(repeating: -1, count: shards.count)
        promotedAt = Array(repeating: -1, count: names.count)
        for node in initialPrimaries { promotedAt[node] = 0 }
    }

    /// Record `id` of shard `shard` was acknowledged by node `primary` at `now`, held by
    /// `holders`. Rules: nodes of at least two zones held it; no other of `members` was
    /// promoted after `primary`.
    mutating func acknowledged(_ id: Int, of shard: Int, by primary: Int, holders: [Int], members: [Int], records: RecordTree, now: Int) {
        var zones: [ZoneID] = []
        for holder in holders where !zones.contains(names[holder].zone) { zones.append(names[holder].zone) }
        if zones.count < 2 {
            violate(now, "write \(id) of \(shards[shard]) acknowledged by \(names[primary]) while only \(holders.map { names[$0].description }.joined(separator: ", ")) held it")
        }
        let own = promotedAt[primary]
        if let newer = members.first(where: { $0 != primary && promotedAt[$0] > own }) {
            violate(now, "write \(id) of \(shards[shard]) acknowledged by \(names[primary]) after the promotion of \(names[newer])")
        }
        var kept = frontier[shard].filter { !records.isAncestor($0, of: id) }
        kept.append(id)
        frontier[shard] = kept
        lastAcknowledgement[shard] = now
    }

    /// Node `node` became primary of shard `shard` at `now` with its WAL ending at `tip`.
    /// Rules: inside the shard's region; it holds every acknowledged record of the shard.
    mutating func promoted(_ node: Int, of shard: Int, tip: Int, inRegion: Bool, region: RegionID, records: RecordTree, now: Int) {
        promotedAt[node] = now
        if !inRegion { violate(now, "promotion of \(names[node]) outside region \(region)") }
        if let lost = frontier[shard].first(where: { !records.isAncestor($0, of: tip) }) {
            violate(now, "acknowledged write \(lost) of \(shards[shard]) (and any acknowledged before it on its timeline) lost at the promotion of \(names[node])")
        }
    }

    /// At most one node of a shard may acknowledge commits at any time.
    mutating func writablePrimaries(_ nodes: [Int], of shard: Int, now: Int) {
        if nodes.count > 1 {
            violate(now, "\(shards[shard]) has \(nodes.count) primaries acknowledging commits: \(nodes.map { names[$0].description }.joined(separator: ", "))")
        }
    }

    /// Liveness at the end of a run whose faults have all healed and settled: every shard
    /// acknowledged a write within the last second.
    /// Shards in `exempt` may stay without a primary (a scenario expects their region down).
    mutating func finish(end: Int, settleSeconds: Int, exempt: Set<ShardID> = []) {
        for (number, shard) in shards.enumerated().sorted(by: { $0.element < $1.element })
            where lastAcknowledgement[number] < end - 1_000 && !exempt.contains(shard) {
            violate(end, "\(shard) acknowledged no write in the last second of the run: no primary \(settleSeconds) s after the last fault")
        }
    }

    /// Liveness within a bound: a shard whose primary fault `fault` hit (at `at`) acknowledged
    /// a write again within `bound` ms.
    mutating func recovered(_ shard: ShardID, fault: Int, kind: String, rto: Int?, bound: Int, at: Int) {
        guard let rto else { return violate(at, "\(shard) never acknowledged a write again after fault \(fault) (\(kind))") }
        if rto > bound { violate(at + rto, "\(shard) acknowledged no write for \(rto) ms after fault \(fault) (\(kind)): bound \(bound) ms") }
    }

    /// A rule of the run itself could not be set up (a move no realm allows).
    mutating func report(_ now: Int, _ message: String) { violate(now, message) }

    /// A moving tenant is writable on exactly one shard: once routed to the target, its
    /// source stays fenced.
    mutating func moveRouting(routedToTarget: Bool, sourceFenced: Bool, now: Int) {
        if routedToTarget && !sourceFenced { violate(now, "the moving tenant is writable on its source and its target at once") }
    }

    /// At the end of a move: every acknowledged row of the tenant is on the shard it is
    /// routed to, exactly once; and the move ended (it has no step left to take).
    mutating func moveEnded(acknowledged: Set<Int>, visible: [Int], shard: ShardID, finished: Bool, phase: MovePhase, end: Int) {
        let present = Set(visible)
        let lost = acknowledged.subtracting(present).sorted()
        if !lost.isEmpty {
            violate(end, "the moving tenant's acknowledged row(s) \(lost.prefix(5).map(String.init).joined(separator: ", "))\(lost.count > 5 ? " ..." : "") (\(lost.count) in all) are not on \(shard), where it is routed")
        }
        if present.count != visible.count {
            violate(end, "the moving tenant has \(visible.count - present.count) duplicated row(s) on \(shard)")
        }
        if !finished { violate(end, "the move did not end: still at \(phase.rawValue) when the run ended") }
    }

    private mutating func violate(_ now: Int, _ message: String) {
        violations.append("at \(now) ms: \(message)")
    }
}
