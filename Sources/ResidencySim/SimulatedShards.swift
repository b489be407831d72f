import ResidencyCore

/// Simulated PostgreSQL nodes of every shard: streaming replication, `ANY 1` synchronous
/// commit, promotion, fencing and rejoin. Pure state; `SimulationEngine` applies the
/// coordinator's effects to it at simulated times. Nodes and shards are numbered once
/// (positions in `nodes`, shard numbers in `shardIDs`); names are looked up only where
/// Core's actions name them.
///
/// A node's WAL is the path from the root of `RecordTree` to its `tip`: a standby's WAL is a
/// prefix of its upstream's when its tip is an ancestor of the upstream's tip, a diverged
/// former primary's tip sits on a branch of its own, and a rewind moves a tip back to the
/// branch point. Every check costs the distance between two tips (the replication lag), not
/// the length of the history.
struct SimulatedShards {
    struct Node {
        let id: NodeID
        let port: Int
        /// The shard's number.
        let shard: Int
        var up = true
        /// False while its host has no power: nothing can start it.
        var powered = true
        /// False while partitioned away: nobody (coordinator, clients, other nodes) reaches it.
        var reachable = true
        /// An asymmetric partition: the coordinator cannot reach it; clients and the other nodes can.
        var hiddenFromCoordinator = false
        /// The reverse: clients cannot reach it; the coordinator and the other nodes can.
        var hiddenFromClients = false
        var isPrimary: Bool
        /// The last record of its WAL (0: none).
        var tip = 0
        /// Position of the node it streams from.
        var upstream: Int?
        /// Positions of its synchronous standbys; -1 for a name that is no member (the
        /// Runtime's fenced set, on which commits wait).
        var synchronousSet: [Int] = []
        /// When it last heard from its upstream (ms).
        var lastUpstreamContact: Int = 0

        /// Whether it runs and the other nodes reach it.
        var answers: Bool { up && reachable }
    }

    private(set) var nodes: [Node] = []
    private(set) var records = RecordTree()
    private var positions: [NodeID: Int] = [:]
    /// Each shard's node positions, in `Shard.nodes` order.
    private(set) var shardNodes: [[Int]] = []
    /// Per shard number: bumped by every change to one of its nodes, so a probe round can
    /// skip the shards where nothing changed.
    private(set) var versions: [Int] = []
    let shardIDs: [ShardID]
    let shardNumber: [ShardID: Int]

    init(topology: Topology) {
        let ports = Dictionary(topology.regions.flatMap(\.nodePorts).map { ($0.node, $0.port) }, uniquingKeysWith: { a, _ in a })
        shardIDs = topology.shards.map(\.id)
        shardNumber = Dictionary(topology.shards.enumerated().map { ($1.id, $0) }, uniquingKeysWith: { a, _ in a })
        for (number, shard) in topology.shards.enumerated() {
            let first = nodes.count
            for member in shard.nodes { positions[member] = nodes.count; nodes.append(Node(id: member, port: ports[member] ?? 0, shard: number, isPrimary: false)) }
            shardNodes.append(Array(first..<nodes.count))
            versions.append(0)
            let primary = positions[shard.initialPrimary]!
            nodes[primary].isPrimary = true
            for position in shardNodes[number] where position != primary {
                nodes[position].upstream = primary
                nodes[primary].synchronousSet.append(position)
            }
        }
    }

    func position(_ id: NodeID) -> Int? { positions[id] }

    subscript(_ position: Int) -> Node {
        get { nodes[position] }
        _modify {
            yield &nodes[position]
            versions[nodes[position].shard] &+= 1
        }
    }

    /// Positions of `ids`, -1 for a name that is no node.
    func positions(_ ids: [NodeID]) -> [Int] { ids.map { positions[$0] ?? -1 } }

    /// Whether the coordinator reaches it; `evenWhenDown`: its host, to start it.
    func coordinatorReaches(_ position: Int, evenWhenDown: Bool = false) -> Bool {
        let node = nodes[position]
        return (node.up || (evenWhenDown && node.powered)) && node.reachable && !node.hiddenFromCoordinator
    }

    /// Whether `position` streams from its upstream now: both answer and its WAL is a prefix
    /// of the upstream's (a diverged timeline cannot be followed until rewound).
    func streams(_ position: Int) -> Bool {
        let standby = nodes[position]
        guard standby.answers, !standby.isPrimary, let upstream = standby.upstream, nodes[upstream].answers else { return false }
        return records.isAncestor(standby.tip, of: nodes[upstream].tip)
    }

    /// Whether `position` is a primary that would acknowledge a commit now (whoever reaches it).
    func acknowledges(_ position: Int) -> Bool {
        let node = nodes[position]
        guard node.answers, node.isPrimary else { return false }
        return node.synchronousSet.isEmpty || node.synchronousSet.contains { $0 >= 0 && nodes[$0].upstream == position && streams($0) }
    }

    /// Every streaming standby of shard `number` catches up with its upstream (in node
    /// order, twice: a cascade of one level is enough here).
    mutating func replicate(_ number: Int, now: Int) {
        for _ in 0..<2 {
            for position in shardNodes[number] where streams(position) {
                let tip = nodes[nodes[position].upstream!].tip
                if nodes[position].tip != tip {
                    nodes[position].tip = tip
                    versions[number] &+= 1
                }
                nodes[position].lastUpstreamContact = now
            }
        }
    }

    /// The node clients reach for writes: the recorded primary when it answers as a
    /// primary, else the first member that does (libpq's `target_session_attrs=read-write`).
    func writable(_ number: Int, recorded: Int?) -> Int? {
        let reached = { (position: Int) in
            let node = nodes[position]
            return node.answers && !node.hiddenFromClients && node.isPrimary
        }
        if let recorded, reached(recorded) { return recorded }
        return shardNodes[number].first(where: reached)
    }

    /// Whether a commit on shard `number` would be acknowledged now: clients reach a
    /// primary whose synchronous set is empty or has a member streaming from it.
    func acceptsCommits(_ number: Int, recorded: Int?) -> Bool {
        writable(number, recorded: recorded).map(acknowledges) ?? false
    }

    /// Appends a new record to `primary`'s WAL (standbys get it at the next `replicate`); returns its id.
    mutating func append(on primary: Int) -> Int {
        let id = records.append(after: nodes[primary].tip)
        nodes[primary].tip = id
        versions[nodes[primary].shard] &+= 1
        return id
    }

    /// Whether `primary` may acknowledge record `id` now: a member of its synchronous set
    /// that streams from it has the record (`ANY 1`), or the set is empty (as PostgreSQL with
    /// an empty `synchronous_standby_names`).
    func mayAcknowledge(_ id: Int, on primary: Int) -> Bool {
        let node = nodes[primary]
        guard node.answers, node.isPrimary else { return false }
        return node.synchronousSet.isEmpty || node.synchronousSet.contains { member in
            member >= 0 && nodes[member].upstream == primary && streams(member) && records.isAncestor(id, of: nodes[member].tip)
        }
    }

    /// How many zones hold record `id` of shard `number` (one node per zone).
    func holders(of id: Int, in number: Int) -> [Int] {
        shardNodes[number].filter { records.isAncestor(id, of: nodes[$0].tip) }
    }

    /// What a probe of the node at `position` sees at `now`.
    func probe(at position: Int, now: Int) -> NodeProbe {
        let node = nodes[position]
        guard node.answers, !node.hiddenFromCoordinator else { return .unreachable }
        let lsn = LSN(UInt64(records.depth(of: node.tip)))
        if node.isPrimary { return .reachable(NodeReport(inRecovery: false, currentLSN: lsn)) }
        let streaming = streams(position)
        return .reachable(NodeReport(
            inRecovery: true, receivedLSN: lsn,
            upstreamPort: streaming ? node.upstream.map { nodes[$0].port } : nil,
            sinceUpstreamMessage: streaming ? .zero : .milliseconds(now - node.lastUpstreamContact)))
    }

    /// Makes `position` a standby of `primary`; with `rewind`, a diverged WAL is cut back to
    /// what it shares with the primary first.
    mutating func follow(_ position: Int, primary: Int, rewind: Bool, now: Int) {
        nodes[position].up = true
        nodes[position].isPrimary = false
        nodes[position].synchronousSet = []
        nodes[position].upstream = primary
        if rewind { nodes[position].tip = records.commonAncestor(nodes[position].tip, nodes[primary].tip) }
        nodes[position].lastUpstreamContact = now
        versions[nodes[position].shard] &+= 1
        replicate(nodes[position].shard, now: now)
    }
}

/// Every record ever committed on any node, as a tree: each record's parent is the record
/// before it in the WAL it was written to. Record 0 is the empty WAL.
struct RecordTree {
    private var parent: [Int32] = [0]
    private var depths: [Int32] = [0]

    var count: Int { parent.count - 1 }

    mutating func append(after tip: Int) -> Int {
        parent.append(Int32(tip))
        depths.append(depths[tip] + 1)
        return parent.count - 1
    }

    /// The WAL length ending at `record`.
    func depth(of record: Int) -> Int { Int(depths[record]) }

    /// The records of the WAL ending at `tip` whose depth is at least `depth`: one walk back.
    func timeline(endingAt tip: Int, downToDepth depth: Int) -> Set<Int> {
        var found: Set<Int> = []
        var at = tip
        while at != 0, depths[at] >= depth {
            found.insert(at)
            at = Int(parent[at])
        }
        return found
    }

    /// Whether the WAL ending at `descendant` contains `record`.
    func isAncestor(_ record: Int, of descendant: Int) -> Bool {
        let target = depths[record]
        var at = descendant
        guard depths[at] >= target else { return false }
        while depths[at] > target { at = Int(parent[at]) }
        return at == record
    }

    /// The last record two WALs share.
    func commonAncestor(_ a: Int, _ b: Int) -> Int {
        var a = a, b = b
        while depths[a] > depths[b] { a = Int(parent[a]) }
        while depths[b] > depths[a] { b = Int(parent[b]) }
        while a != b {
            a = Int(parent[a])
            b = Int(parent[b])
        }
        return a
    }
}
