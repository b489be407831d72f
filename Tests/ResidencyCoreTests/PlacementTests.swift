import ResidencyCore
import Testing

@Suite struct PlacementTests {
    let topology = TopologyExample.topology

    @Test func aTenantPinnedToEUOnlyLandsOnAnEUShard() throws {
        var counts: [ShardID: Int] = [:]
        for _ in 0..<12 {
            let shard = try Placement.shard(forRealm: "eu", region: nil, in: topology, tenantsPerShard: counts)
            #expect(["eu-central-1", "eu-central-2", "eu-west-1"].contains(shard))
            counts[shard, default: 0] += 1
        }
        #expect(counts == ["eu-central-1": 4, "eu-central-2": 4, "eu-west-1": 4])
    }

    @Test func aGlobalTenantMayLandOnAnyShard() throws {
        var seen: Set<ShardID> = []
        var counts: [ShardID: Int] = [:]
        for _ in 0..<4 {
            let shard = try Placement.shard(forRealm: "global", region: nil, in: topology, tenantsPerShard: counts)
            seen.insert(shard)
            counts[shard, default: 0] += 1
        }
        #expect(seen == Set(topology.shards.map(\.id)))
    }

    @Test func theLeastLoadedShardWins() throws {
        let counts: [ShardID: Int] = ["eu-central-1": 5, "eu-central-2": 2, "eu-west-1": 3]
        #expect(try Placement.shard(forRealm: "eu", region: nil, in: topology, tenantsPerShard: counts) == "eu-central-2")
    }

    @Test func tiesGoToTheSmallestShardID() throws {
        #expect(try Placement.shard(forRealm: "eu", region: nil, in: topology, tenantsPerShard: [:]) == "eu-central-1")
    }

    @Test func aRegionOfTheRealmNarrowsThePlacement() throws {
        let counts: [ShardID: Int] = ["eu-central-1": 5, "eu-central-2": 5, "eu-west-1": 9]
        #expect(try Placement.shard(forRealm: "eu", region: "eu-west", in: topology, tenantsPerShard: counts) == "eu-west-1")
    }

    @Test func aRegionOutsideTheRealmIsRefused() {
        #expect(throws: Placement.Refusal.regionOutsideRealm("us-east", realm: "de", realmRegions: ["eu-central"])) {
            try Placement.shard(forRealm: "de", region: "us-east", in: topology, tenantsPerShard: [:])
        }
    }

    @Test func anUnknownRealmIsRefused() {
        #expect(throws: Placement.Refusal.unknownRealm("mars", known: ["us", "eu", "de", "global"])) {
            try Placement.shard(forRealm: "mars", region: nil, in: topology, tenantsPerShard: [:])
        }
    }

    @Test func anUnknownRegionIsRefused() {
        #expect(throws: Placement.Refusal.unknownRegion("ap-south", known: ["us-east", "eu-central", "eu-west"])) {
            try Placement.shard(forRealm: "eu", region: "ap-south", in: topology, tenantsPerShard: [:])
        }
    }
}
