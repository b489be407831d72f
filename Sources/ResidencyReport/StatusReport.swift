import ResidencyCore

/// `residency status`: a table per region and shard, or the JSON document scripts rely on
/// (documented in the README).
public enum StatusReport {
    public static func text(_ status: TopologyStatus) -> String {
        var lines: [String] = []
        var regions: [RegionID] = []
        for shard in status.shards where !regions.contains(shard.region) { regions.append(shard.region) }
        for region in regions {
            let spread = status.primariesByZone(region)
            lines.append("region \(region)  primaries by zone: " + spread.map { "\($0.zone) \($0.primaries)" }.joined(separator: ", "))
            for shard in status.shards where shard.region == region {
                lines.append("  shard \(shard.shard)  epoch \(shard.epoch)  primary \(shard.primary.zone)  \(shard.isHealthy ? "healthy" : "UNHEALTHY")")
                var table = TextTable(header: ["ZONE", "ROLE", "HOST", "PORT", "REACHABLE", "REPLICATION", "SYNC", "REPLAY LAG"])
                for node in shard.nodes {
                    table.append([
                        node.node.zone.rawValue, node.role.rawValue, status.host, String(node.port),
                        node.reachable ? "yes" : "NO", node.replication.rawValue, node.syncState ?? "-",
                        node.replayLagBytes.map { "\($0) B" } ?? "-",
                    ])
                }
                lines.append(table.render(indent: "    "))
                for problem in shard.problems { lines.append("    ! \(problem)") }
            }
        }
        let nodeCount = status.shards.reduce(0) { $0 + $1.nodes.count }
        let unhealthy = status.shards.filter { !$0.isHealthy }.count
        lines.append(unhealthy == 0
            ? "healthy: \(status.shards.count) shard(s), \(nodeCount) node(s), every standby streaming"
            : "UNHEALTHY: \(unhealthy) of \(status.shards.count) shard(s) have problems")
        return lines.joined(separator: "\n")
    }

    public static func json(_ status: TopologyStatus, state: String) -> String {
        var regions: [RegionDocument] = []
        for shard in status.shards {
            let document = ShardDocument(
                shard: shard.shard.rawValue, epoch: shard.epoch, primary: shard.primary.description,
                healthy: shard.isHealthy, problems: shard.problems,
                nodes: shard.nodes.map { node in
                    NodeDocument(
                        node: node.node.description, zone: node.node.zone.rawValue, role: node.role.rawValue,
                        host: status.host, port: node.port, reachable: node.reachable, replication: node.replication.rawValue,
                        syncState: node.syncState, replayLagBytes: node.replayLagBytes, error: node.error)
                })
            if let index = regions.firstIndex(where: { $0.region == shard.region.rawValue }) {
                regions[index].shards.append(document)
            } else {
                regions.append(RegionDocument(
                    region: shard.region.rawValue,
                    primariesByZone: status.primariesByZone(shard.region).map { ZoneCount(zone: $0.zone.rawValue, primaries: $0.primaries) },
                    shards: [document]))
            }
        }
        return JSONDocument.render(Document(version: JSONDocument.version, state: state, healthy: status.isHealthy, regions: regions))
    }

    struct Document: Encodable {
        let version: Int
        let state: String
        let healthy: Bool
        let regions: [RegionDocument]
    }

    struct RegionDocument: Encodable {
        let region: String
        let primariesByZone: [ZoneCount]
        var shards: [ShardDocument]

        enum CodingKeys: String, CodingKey {
            case region, shards
            case primariesByZone = "primaries_by_zone"
        }
    }

    struct ZoneCount: Encodable {
        let zone: String
        let primaries: Int
    }

    struct ShardDocument: Encodable {
        let shard: String
        let epoch: Int64
        let primary: String
        let healthy: Bool
        let problems: [String]
        let nodes: [NodeDocument]
    }

    struct NodeDocument: Encodable {
        let node: String
        let zone: String
        let role: String
        let host: String
        let port: Int
        let reachable: Bool
        let replication: String
        let syncState: String?
        let replayLagBytes: Int64?
        let error: String?

        enum CodingKeys: String, CodingKey {
            case node, zone, role, host, port, reachable, replication, error
            case syncState = "sync_state", replayLagBytes = "replay_lag_bytes"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(node, forKey: .node)
            try container.encode(zone, forKey: .zone)
            try container.encode(role, forKey: .role)
            try container.encode(host, forKey: .host)
            try container.encode(port, forKey: .port)
            try container.encode(reachable, forKey: .reachable)
            try container.encode(replication, forKey: .replication)
            // Always present, null when unknown, so scripts can rely on the key.
            try container.encode(syncState, forKey: .syncState)
            try container.encode(replayLagBytes, forKey: .replayLagBytes)
            try container.encode(error, forKey: .error)
        }
    }
}
