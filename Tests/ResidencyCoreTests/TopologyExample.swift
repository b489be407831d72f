import ResidencyCore

/// A small topology for tests: `us` -> us-east; `eu` -> eu-central, eu-west; `de` -> eu-central; `global` -> all.
enum TopologyExample {
    static func region(_ name: String, shards: Int = 1, port: Int) -> Region {
        let zones = ["a", "b", "c"].map { ZoneID("\(name)-\($0)") }
        let shardList = (1...shards).map { Shard(id: ShardID("\(name)-\($0)"), region: RegionID(name), zones: zones) }
        return Region(id: RegionID(name), zones: zones, shards: shardList, ports: PortRange(first: port, last: port + 19))
    }

    static let topology = Topology(
        realms: [
            Realm(id: "us", regions: ["us-east"]),
            Realm(id: "eu", regions: ["eu-central", "eu-west"]),
            Realm(id: "de", regions: ["eu-central"]),
            Realm(id: "global", regions: ["us-east", "eu-central", "eu-west"]),
        ],
        regions: [region("us-east", port: 25410), region("eu-central", shards: 2, port: 25430), region("eu-west", port: 25450)],
        apps: [App(key: "tempo", residencyEligible: true)],
        failover: FailoverSettings(),
        serviceLevels: ServiceLevels(tiers: []),
        controlPort: 25400)
}
