import ResidencyCore
import Testing

@Suite struct MovePlannerTests {
    /// The example topology plus an app that is not residency-eligible.
    let topology = Topology(
        realms: TopologyExample.topology.realms, regions: TopologyExample.topology.regions,
        apps: [App(key: "tempo", residencyEligible: true), App(key: "legacy", residencyEligible: false)],
        failover: FailoverSettings(), serviceLevels: ServiceLevels(tiers: []), controlPort: 25400)

    func tenant(_ name: String = "acme", realm: RealmID = "global", shard: ShardID = "us-east-1", apps: [String] = ["tempo", "legacy"]) -> Tenant {
        Tenant(id: TenantID(validating: name)!, realm: realm, shard: shard, products: ["jira", "confluence"], apps: apps, createdAt: "")
    }

    func plan(
        _ tenants: [Tenant], name: String = "acme", to realm: RealmID, region: RegionID? = nil, counts: [ShardID: Int] = [:],
        sizes: [String: DatasetSize] = ["jira": DatasetSize(rows: 100, bytes: 10_000), "tempo": DatasetSize(rows: 5, bytes: 500),
                                         "legacy": DatasetSize(rows: 7, bytes: 700)],
        open: (id: Int64, phase: MovePhase)? = nil, history: MoveHistory = MoveHistory()
    ) throws(MovePlanner.Refusal) -> MovePlan {
        try MovePlanner.plan(tenantName: name, to: realm, region: region, tenants: tenants, topology: topology,
                             tenantsPerShard: counts, sizes: sizes, openMove: open, history: history)
    }

    @Test func productsAndEligibleAppsMoveWhileAnIneligibleAppStaysInItsRegion() throws {
        let plan = try plan([tenant()], to: "eu")
        let decisions = Dictionary(uniqueKeysWithValues: plan.items.map { ($0.dataset.name, $0.decision) })
        #expect(decisions == ["jira": .moves, "confluence": .nothingToMove, "tempo": .moves, "legacy": .notEligible])
        #expect(plan.items.first { $0.dataset.name == "legacy" }?.region == "us-east")
        #expect(plan.movingDatasets.map(\.name) == ["jira", "confluence", "tempo"])
        #expect(plan.movingRows == 105)
        #expect(!plan.pinOnly)
    }

    @Test func theTargetIsTheLeastLoadedShardOfTheRealmOrOfTheRegionAskedFor() throws {
        let counts: [ShardID: Int] = ["eu-central-1": 3, "eu-central-2": 1, "eu-west-1": 2]
        #expect(try plan([tenant()], to: "eu", counts: counts).toShard == "eu-central-2")
        #expect(try plan([tenant()], to: "eu", region: "eu-west", counts: counts).toShard == "eu-west-1")
        #expect(try plan([tenant()], to: "eu", counts: counts).toRegion == "eu-central")
    }

    @Test func aTenantWhoseShardLiesInTheRealmOnlyChangesItsPin() throws {
        let plan = try plan([tenant(realm: "global", shard: "eu-west-1")], to: "eu")
        #expect(plan.pinOnly)
        #expect(plan.toShard == "eu-west-1")
        #expect(plan.movingDatasets.isEmpty)
        #expect(plan.estimatedCopyMilliseconds == 0)
        #expect(plan.steps.count == 1 && plan.steps[0].contains("no data moves"))
    }

    @Test func aMoveThatWouldChangeNothingIsRefusedSayingWhereTheTenantIs() {
        let refusal = MovePlanner.Refusal.nothingToMove(TenantID(validating: "acme")!, realm: "eu", shard: "eu-west-1")
        #expect(throws: refusal) { try plan([tenant(realm: "eu", shard: "eu-west-1")], to: "eu") }
        #expect(throws: refusal) { try plan([tenant(realm: "eu", shard: "eu-west-1")], to: "eu", region: "eu-west") }
        #expect(refusal.description == "tenant acme is already pinned to eu, on eu-west-1: nothing to move")
    }

    @Test func aRegionOutsideTheCurrentOneMovesDataEvenInsideTheRealm() throws {
        let plan = try plan([tenant(realm: "eu", shard: "eu-west-1")], to: "eu", region: "eu-central")
        #expect(!plan.pinOnly)
        #expect(plan.toRegion == "eu-central")
    }

    @Test func estimatesComeFromEarlierMovesWhenThereAreAny() throws {
        let measured = try plan([tenant()], to: "eu", history: MoveHistory(copyBytesPerSecond: [1_000, 2_000, 9_000], freezeMilliseconds: [40, 90, 60]))
        #expect(measured.throughputBytesPerSecond == 2_000)
        #expect(measured.estimatedCopyMilliseconds == 10_500 * 1000 / 2_000)
        #expect(measured.estimatedFreezeMilliseconds == 60)
        #expect(measured.throughputSource.contains("3 earlier"))
        let fresh = try plan([tenant()], to: "eu")
        #expect(fresh.throughputBytesPerSecond == MovePlanner.defaultThroughputBytesPerSecond)
        #expect(fresh.throughputSource.hasPrefix("default"))
    }

    @Test func refusesAnUnknownTenant() {
        #expect(throws: MovePlanner.Refusal.unknownTenant("nobody", known: [TenantID(validating: "acme")!])) {
            try plan([tenant()], name: "nobody", to: "eu")
        }
    }

    @Test func refusesAnUnknownRealmAndARegionOutsideTheRealm() {
        #expect(throws: MovePlanner.Refusal.placement(.unknownRealm("mars", known: topology.realms.map(\.id)))) {
            try plan([tenant()], to: "mars")
        }
        #expect(throws: MovePlanner.Refusal.placement(.regionOutsideRealm("us-east", realm: "eu", realmRegions: ["eu-central", "eu-west"]))) {
            try plan([tenant()], to: "eu", region: "us-east")
        }
    }

    @Test func refusesARealmWithoutAShard() {
        let empty = Topology(
            realms: topology.realms + [Realm(id: "moon", regions: [])], regions: topology.regions, apps: topology.apps,
            failover: FailoverSettings(), serviceLevels: ServiceLevels(tiers: []), controlPort: 25400)
        #expect(throws: MovePlanner.Refusal.placement(.noShard(realm: "moon"))) {
            try MovePlanner.plan(tenantName: "acme", to: "moon", region: nil, tenants: [tenant()], topology: empty,
                                 tenantsPerShard: [:], sizes: [:], openMove: nil, history: MoveHistory())
        }
    }

    @Test func refusesATenantWithAMoveStillOpen() {
        #expect(throws: MovePlanner.Refusal.moveOpen(TenantID(validating: "acme")!, move: 4, phase: .copying)) {
            try plan([tenant()], to: "eu", open: (4, .copying))
        }
    }
}
