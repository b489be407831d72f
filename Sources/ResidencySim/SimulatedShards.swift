import ResidencyCore

/// Simulated PostgreSQL nodes of every shard: WAL as the list of committed record ids,
/// streaming replication as "a standby's WAL is a prefix of its upstream's and catches up",
/// `ANY 1` synchronous commit, promotion, fencing and rejoin. Pure state; `Simulation`
/// applies the coordinator's effects to it at simulated times.
struct SimulatedShards {
    struct Node {
        let id: NodeID
        let port: Int
        var up = true
        /// False while partitioned away: nobody (coordinator, clients, other nodes) reaches it.
        var reachable = true
        var isPrimary: Bool
        var wal: [Int] = []
        var upstream: NodeID?
        var synchronousSet: [NodeID] = []
        /// When it last heard from its upstream (ms).
        var lastUpstreamContact: Int = 0
    }

    private(set) var nodes: [Node]
    private let index: [NodeID: Int]
    let shardNodes: [ShardID: [Int]]

    init(topology: Topology) {
        var nodes: [Node] = []
        var index: [NodeID: Int] = [:]
        var shardNodes: [ShardID: [Int]] = [:]
        let ports = Dictionary(topology.regions.flatMap(\.nodePorts).map { ($0.node, $0.port) }, uniquingKeysWith: { a, _ in a })
        for shard in topology.shards {
            let primary = shard.initialPrimary
            for member in shard.nodes {
                index[member] = nodes.count
                shardNodes[shard.id, default: []].append(nodes.count)
                let isPrimary = member == primary
                nodes.append(Node(id: member, port: ports[member] ?? 0, isPrimary: isPrimary, upstream: isPrimary ? nil : primary,
                                  synchronousSet: isPrimary ? shard.nodes.filter { $0 != primary } : []))
            }
        }
        self.nodes = nodes
        self.index = index
        self.shardNodes = shardNodes
    }

    subscript(_ id: NodeID) -> Node {
        get { nodes[index[id]!] }
        set { nodes[index[id]!] = newValue }
    }

    func answers(_ id: NodeID) -> Bool { self[id].up && self[id].reachable }

    /// Whether `standby` streams from its upstream now: both answer and its WAL is a
    /// prefix of the upstream's (a diverged timeline cannot be followed until rewound).
    func streams(_ standby: Node) -> Bool {
        guard standby.up, standby.reachable, !standby.isPrimary, let upstream = standby.upstream, answers(upstream) else { return false }
        let source = self[upstream].wal
        return standby.wal.count <= source.count && Array(source.prefix(standby.wal.count)) == standby.wal
    }

    /// Every streaming standby of `shard` catches up with its upstream (in node order, twice:
    /// a cascade of one level is enough here).
    mutating func replicate(_ shard: ShardID, now: Int) {
        for _ in 0..<2 {
            for i in shardNodes[shard] ?? [] where streams(nodes[i]) {
                nodes[i].wal = self[nodes[i].upstream!].wal
                nodes[i].lastUpstreamContact = now
            }
        }
    }

    /// The node clients reach for writes: the recorded primary when it answers as a
    /// primary, else the first member that does (libpq's `target_session_attrs=read-write`).
    func writable(_ shard: ShardID, recorded: NodeID?) -> NodeID? {
        if let recorded, answers(recorded), self[recorded].isPrimary { return recorded }
        return (shardNodes[shard] ?? []).map { nodes[$0] }.first { $0.up && $0.reachable && $0.isPrimary }?.id
    }

    /// Writes record `id` into `primary`'s WAL (standbys get it at the next `replicate`).
    mutating func append(_ id: Int, on primary: NodeID) {
        self[primary].wal.append(id)
    }

    /// Whether `primary` may acknowledge record `id` now: a member of its synchronous set
    /// that streams from it has the record (`ANY 1`), or the set is empty (as PostgreSQL with
    /// an empty `synchronous_standby_names`). Returns the nodes holding the record, when so.
    func acknowledgement(of id: Int, on primary: NodeID) -> [NodeID]? {
        guard answers(primary), self[primary].isPrimary else { return nil }
        let set = self[primary].synchronousSet
        let confirmed = set.contains { member in
            guard let node = index[member].map({ nodes[$0] }) else { return false }
            return node.upstream == primary && streams(node) && node.wal.contains(id)
        }
        guard confirmed || set.isEmpty else { return nil }
        return holders(of: id, in: primary.shard)
    }

    func holders(of id: Int, in shard: ShardID) -> [NodeID] {
        (shardNodes[shard] ?? []).map { nodes[$0] }.filter { $0.wal.contains(id) }.map(\.id)
    }

    /// What a probe of `id` sees at `now`.
    func probe(_ id: NodeID, now: Int) -> NodeProbe {
        let node = self[id]
        guard node.up, node.reachable else { return .unreachable }
        if node.isPrimary { return .reachable(NodeReport(inRecovery: false, currentLSN: LSN(UInt64(node.wal.count)))) }
        let streaming = streams(node)
        return .reachable(NodeReport(
            inRecovery: true, receivedLSN: LSN(UInt64(node.wal.count)),
            upstreamPort: streaming ? node.upstream.map { self[$0].port } : nil,
            sinceUpstreamMessage: streaming ? .zero : .milliseconds(now - node.lastUpstreamContact)))
    }

    /// Makes `id` a standby of `primary`; with `rewind`, a diverged WAL is cut back to
    /// what it shares with the primary first.
    mutating func follow(_ id: NodeID, primary: NodeID, rewind: Bool, now: Int) {
        var node = self[id]
        node.up = true
        node.isPrimary = false
        node.synchronousSet = []
        node.upstream = primary
        if rewind {
            let source = self[primary].wal
            let common = zip(node.wal, source).prefix { $0 == $1 }.count
            node.wal = Array(node.wal.prefix(common))
        }
        node.lastUpstreamContact = now
        self[id] = node
        replicate(id.shard, now: now)
    }
}
