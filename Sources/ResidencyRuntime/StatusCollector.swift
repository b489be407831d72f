import Dispatch
import ResidencyCore
import ResidencyPostgres
import Synchronization

/// Looks at every node of a topology at once and judges each shard (`ShardStatus`).
public struct StatusCollector {
    let control: ControlStore
    let data: DataNodes

    public init(control: ControlStore, data: DataNodes) {
        self.control = control
        self.data = data
    }

    public func collect() throws(RuntimeError) -> TopologyStatus {
        let topology = try control.requireTopology()
        let shards = try control.shards()
        let nodes = try control.nodes()
        let ports = Dictionary(nodes.map { ($0.node, $0.port) }, uniquingKeysWith: { a, _ in a })
        let primaries = Set(shards.map(\.primary))
        let observations = Self.observe(nodes.map { ($0.node, data.settings(port: $0.port, connectTimeoutSeconds: 2)) }, primaries: primaries)
        let statuses = shards.compactMap { record -> ShardStatus? in
            guard let shard = topology.shard(record.shard) else { return nil }
            return ShardStatus(shard: shard, epoch: record.epoch, primary: record.primary, ports: ports,
                               observations: observations.filter { $0.node.shard == record.shard })
        }
        return TopologyStatus(shards: statuses, host: "127.0.0.1")
    }

    /// Probes the nodes in parallel, each on a thread of its own (libpq blocks), each
    /// bounded by its connection's `connect_timeout` and statement timeout.
    static func observe(_ targets: [(NodeID, ConnectionSettings)], primaries: Set<NodeID>) -> [NodeObservation] {
        let results = Mutex<[NodeObservation]>([])
        DispatchQueue.concurrentPerform(iterations: targets.count) { index in
            let (node, settings) = targets[index]
            let observation = observe(node, settings, isPrimary: primaries.contains(node))
            results.withLock { $0.append(observation) }
        }
        return results.withLock { $0 }.sorted { $0.node < $1.node }
    }

    static func observe(_ node: NodeID, _ settings: ConnectionSettings, isPrimary: Bool) -> NodeObservation {
        var settings = settings
        settings.statementTimeoutMilliseconds = 2_000
        do {
            let connection = try Connection(settings)
            let inRecovery = try connection.query("SELECT pg_is_in_recovery()").scalar == "t"
            var standbys: [StandbyReplication] = []
            if !inRecovery {
                standbys = try connection.query("""
                    SELECT application_name, state, sync_state,
                           pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint
                    FROM pg_stat_replication ORDER BY application_name
                    """).rows.map { row in
                    StandbyReplication(applicationName: row[0] ?? "", state: row[1] ?? "", syncState: row[2] ?? "",
                                       replayLagBytes: row[3].flatMap { Int64($0) })
                }
            }
            return NodeObservation(node: node, reachable: true, inRecovery: inRecovery, standbys: standbys)
        } catch {
            return NodeObservation(node: node, reachable: false, inRecovery: nil, error: error.message)
        }
    }
}
