import ResidencyCore
import Testing

/// Initial primaries spread round-robin over a region's zones; a rebalance plans the
/// switchovers back to an even spread and refuses during a failover.
@Suite struct PrimarySpreadTests {
    let zones: [ZoneID] = ["eu-central-a", "eu-central-b", "eu-central-c"]

    func region(_ shards: Int, pinned: [Int: ZoneID] = [:]) -> Region {
        let requests = (1...shards).map { PrimarySpread.Request(shard: ShardID("eu-central-\($0)"), zones: zones, pinned: pinned[$0]) }
        let placed = PrimarySpread.place(requests, zones: zones)
        let list = requests.map { Shard(id: $0.shard, region: "eu-central", zones: zones, primaryZone: placed[$0.shard]) }
        return Region(id: "eu-central", zones: zones, shards: list, ports: PortRange(first: 30_000, last: 30_100))
    }

    @Test func unpinnedShardsGoRoundRobinOverTheZones() {
        let placed = region(6).shards.map(\.primaryZone)
        #expect(placed == ["eu-central-a", "eu-central-b", "eu-central-c", "eu-central-a", "eu-central-b", "eu-central-c"])
    }

    @Test func aPinnedShardKeepsItsZoneAndTheOthersFillTheRest() {
        let placed = region(3, pinned: [1: "eu-central-b"]).shards.map(\.primaryZone)
        #expect(placed == ["eu-central-b", "eu-central-a", "eu-central-c"])
    }

    @Test func aShardOnlyGetsAZoneItHasAMemberIn() {
        let requests = [
            PrimarySpread.Request(shard: "s-1", zones: ["eu-central-a", "eu-central-b"], pinned: nil),
            PrimarySpread.Request(shard: "s-2", zones: ["eu-central-a", "eu-central-b"], pinned: nil),
            PrimarySpread.Request(shard: "s-3", zones: ["eu-central-a", "eu-central-b"], pinned: nil),
        ]
        let placed = PrimarySpread.place(requests, zones: zones)
        #expect(placed.values.allSatisfy { $0 != "eu-central-c" })
        #expect(Set(placed.values) == ["eu-central-a", "eu-central-b"])
    }

    func current(_ region: Region, primaries: [ZoneID], busy: Int? = nil, sick: Int? = nil) -> [PrimarySpread.Current] {
        region.shards.enumerated().map { index, shard in
            PrimarySpread.Current(shard: shard, primary: NodeID(shard: shard.id, zone: primaries[index]),
                                  operationInProgress: index == busy, problems: index == sick ? ["standby x is unreachable"] : [])
        }
    }

    @Test func aRebalancePlansTheFewestSwitchoversToAnEvenSpread() throws {
        let six = region(6)
        // After a zone-a failure every primary sits in b or c.
        let moves = try PrimarySpread.plan(six, current: current(six, primaries: ["eu-central-b", "eu-central-b", "eu-central-c", "eu-central-b", "eu-central-b", "eu-central-c"])).get()
        #expect(moves.count == 2)
        #expect(moves.allSatisfy { $0.to == "eu-central-a" && $0.from == "eu-central-b" })
        #expect(Set(moves.map(\.shard)).count == 2)
        // Already even: nothing to do.
        #expect(try PrimarySpread.plan(six, current: current(six, primaries: six.shards.map(\.primaryZone))).get().isEmpty)
    }

    @Test func aRebalanceIsRefusedDuringAFailover() {
        let six = region(6)
        let all = [ZoneID](repeating: "eu-central-b", count: 6)
        #expect(PrimarySpread.plan(six, current: current(six, primaries: all, busy: 4)) == .failure(.operationInProgress("eu-central-5")))
        guard case .failure(.unhealthy("eu-central-1", _)) = PrimarySpread.plan(six, current: current(six, primaries: all, sick: 0)) else {
            Issue.record("an unhealthy shard would be switched over")
            return
        }
    }
}
