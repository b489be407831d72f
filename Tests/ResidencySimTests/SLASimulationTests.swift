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
