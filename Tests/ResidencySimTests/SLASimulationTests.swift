import ResidencyCore
@testable import ResidencySim
import Testing

@Suite struct SLASimulationTests {
    static let topology = SimulationTests.topology

    /// An hour-long power loss of one zone, nobody holding it: the shards whose primary was
    /// there are out for about the failover (seconds), the others not at all, and the
    /// clock jumps over the hour.
    @Test func aZoneLostForAnHourCostsOnlyTheFailover() {
        var settings = Simulation.Settings()
        settings.clients = false
        settings.holdZones = false
        settings.duration = .seconds(3 * 3_600)
        settings.schedule = [.init(kind: .powerLoss, zone: "north-a", atMilliseconds: 600_000, forMilliseconds: 3_600_000)]
        let result = Simulation(topology: Self.topology, seed: 3, settings: settings).run()
        #expect(result.passed, "\(result.violations)")
        #expect(result.promotions == 2)
        #expect(result.outages.map(\.shard).sorted() == ["north-1", "north-2"], "\(result.outages)")
        for outage in result.outages {
            #expect(outage.fromMilliseconds >= 600_000 && outage.toMilliseconds - outage.fromMilliseconds < 5_000, "\(outage)")
        }
        #expect(result.jumps >= 2)
        // Three hours are 54,000 probe rounds; around the fault, a rejoin of the dark zone is
        // tried on a backoff (at most every 30 s), each try simulated in full.
        #expect(result.rounds < 3_000, "\(result.rounds) probe rounds: the quiet hours were simulated probe by probe")
    }
}

extension SLASimulationTests {
    /// The forecast of a seed range is the same however many runs go side by side, and a
    /// seed's run is the same twice.
    @Test func theOutcomeDoesNotDependOnJobs() throws {
        var settings = SLASimulation.Settings()
        settings.months = 2
        settings.runs = 6
        settings.zoneMTBFHours = 24 * 10  // failures often enough to see some in two months
        settings.jobs = 1
        let one = SLASimulation(topology: Self.topology, settings: settings).runAll()
        settings.jobs = 2
        let two = SLASimulation(topology: Self.topology, settings: settings).runAll()
        #expect(one == two)
        #expect(one.zoneFaults > 0 && one.promotions > 0, "\(one.zoneFaults) zone faults, \(one.promotions) promotions")
        #expect(one.failedSeeds.isEmpty, "\(one.violations)")
        #expect(one.forecast.shardMonths == 6 * 2 * Self.topology.shards.count)
        let simulation = SLASimulation(topology: Self.topology, settings: settings)
        #expect(simulation.run(seed: 3) == simulation.run(seed: 3))
    }
}

extension SLASimulationTests {
    /// Moves per month run while the zones fail: each decided by the real move driver, its
    /// rows and routing checked; none breaks a rule, and each fences its tenant's writes briefly.
    @Test func movesDuringTheSimulatedMonthsBreakNoRule() throws {
        var settings = SLASimulation.Settings()
        settings.months = 2
        settings.runs = 4
        settings.zoneMTBFHours = 24 * 10
        settings.movesPerMonth = 6
        let topology = SimulatedMoveTests.topology
        let outcome = SLASimulation(topology: topology, settings: settings).runAll()
        #expect(outcome.failedSeeds.isEmpty, "\(outcome.violations)")
        #expect(outcome.moves >= 20, "\(outcome.moves) moves in 8 months at 6 a month")
        #expect(outcome.movesSwitched >= outcome.moves / 2)
        #expect((outcome.moveFreezeMaxMilliseconds ?? .max) < 5_000)
        settings.movesPerMonth = 0
        #expect(SLASimulation(topology: topology, settings: settings).runAll().moves == 0)
    }
}
