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

    /// Each rule carried out wrongly is caught by `simulate --random --faults 8 --seconds 300`
    /// within a stated number of seeds (the first catching seed in brackets, measured), and
    /// the failing seed replays to the same result: acknowledge-without-standby within 1 [1],
    /// promote-before-synchronous-standbys within 20 [4], skip-fence within 60 [18: with the
    /// old primary left running, a slow promotion's shards stay without a primary past their
    /// bound]. The fence is defence in depth behind rule 4 (repointed standbys): without it,
    /// an old primary acknowledges nothing in this model; what breaks is liveness.
    @Test(arguments: [(Simulation.BrokenRule.acknowledgeWithoutStandby, 1), (.promoteBeforeSynchronousStandbys, 20), (.skipFence, 60)])
    func aBrokenRuleIsCaughtWithinItsBoundOfSeeds(_ rule: Simulation.BrokenRule, _ bound: Int) {
        var settings = Simulation.Settings()
        settings.broken = rule
        settings.faults = 8
        settings.duration = .seconds(300)
        let caught = (UInt64(1)...UInt64(bound)).first { seed in !Simulation(topology: Self.topology, seed: seed, settings: settings).run().passed }
        #expect(caught != nil, "\(rule) was not caught in \(bound) seeds")
        if let caught {
            let first = Simulation(topology: Self.topology, seed: caught, settings: settings).run()
            #expect(first == Simulation(topology: Self.topology, seed: caught, settings: settings).run())
            // The same faults given as a schedule replay the same run (a shortened schedule replays this way).
            var replay = settings
            replay.schedule = first.faults
            #expect(Simulation(topology: Self.topology, seed: caught, settings: replay).run().violations == first.violations)
            if rule != .skipFence { #expect(first.violations.first?.contains("while only") == true, "\(first.violations.prefix(2))") }
        }
        // Every broken rule has its bound: these three here, switch-before-verification in SimulatedMoveTests.
        #expect(Simulation.BrokenRule.allCases.count == 4)
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
