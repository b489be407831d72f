import ResidencyCore
import ResidencySim
import Testing

@Suite struct SimulationTests {
    /// Two regions of three zones, two shards each.
    static let topology: Topology = {
        func region(_ name: String, ports: Int) -> Region {
            let zones = (["a", "b", "c"]).map { ZoneID("\(name)-\($0)") }
            let shards = (1...2).map { Shard(id: ShardID("\(name)-\($0)"), region: RegionID(name), zones: zones) }
            return Region(id: RegionID(name), zones: zones, shards: shards, ports: PortRange(first: ports, last: ports + 9))
        }
        return Topology(
            realms: [Realm(id: "all", regions: ["north", "south"])],
            regions: [region("north", ports: 20_010), region("south", ports: 20_020)],
            apps: [], failover: FailoverSettings(), serviceLevels: ServiceLevels(tiers: []), controlPort: 20_000)
    }()

    @Test func aSeedRunsTheSameTwice() {
        let first = Simulation(topology: Self.topology, seed: 7).run()
        let second = Simulation(topology: Self.topology, seed: 7).run()
        #expect(first == second)
        #expect(first.events > 1_000)
        #expect(Simulation(topology: Self.topology, seed: 8).run() != first)
    }

    @Test func randomFaultsBreakNoRuleAndEveryShardRecovers() {
        for seed in UInt64(1)...20 {
            let result = Simulation(topology: Self.topology, seed: seed).run()
            #expect(result.passed, "seed \(seed): \(result.violations.prefix(3))")
            #expect(result.acknowledged > 0)
        }
    }

    /// Each rule carried out wrongly is caught by a checker within a few seeds, and the
    /// failing seed replays to the same violation.
    @Test(arguments: Simulation.BrokenRule.allCases)
    func aBrokenRuleIsCaughtWithinTenSeeds(_ rule: Simulation.BrokenRule) {
        var settings = Simulation.Settings()
        settings.broken = rule
        let caught = (UInt64(1)...10).first { seed in !Simulation(topology: Self.topology, seed: seed, settings: settings).run().passed }
        #expect(caught != nil, "\(rule) was not caught in 10 seeds")
        if let caught {
            let first = Simulation(topology: Self.topology, seed: caught, settings: settings).run()
            #expect(first == Simulation(topology: Self.topology, seed: caught, settings: settings).run())
            #expect(first.violations.first?.contains(rule == .acknowledgeWithoutStandby ? "while only" : "while only") == true, "\(first.violations.prefix(2))")
        }
    }

    /// The leading coordinator dies right after journaling each step of a failover as done;
    /// a successor restores from the journal once the lease expires and finishes it.
    @Test(arguments: ["epoch", "synchronous-standbys", "repoint", "promote", "fence"])
    func aCoordinatorDyingAfterAnyJournaledStepIsReplacedAndTheFailoverFinishes(_ step: String) {
        var settings = Simulation.Settings()
        settings.duration = .seconds(60)
        settings.schedule = [Simulation.Fault(kind: .powerLoss, zone: "north-a", atMilliseconds: 5_000, forMilliseconds: 8_000, coordinatorCrashAfter: step)]
        let result = Simulation(topology: Self.topology, seed: 11, settings: settings).run()
        #expect(result.passed, "\(result.violations.prefix(3))")
        #expect(result.promotions >= 1)
        #expect(result.takeovers == 1, "the coordinator was to die after step \(step)")
        let recoveries = result.recoveries.filter { $0.fault == 1 }
        #expect(!recoveries.isEmpty && recoveries.allSatisfy { ($0.rtoMilliseconds ?? .max) < 10_000 }, "\(recoveries)")
    }
}
