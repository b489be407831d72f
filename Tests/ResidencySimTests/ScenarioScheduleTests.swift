import Foundation
import ResidencyConfig
import ResidencyCore
@testable import ResidencySim
import Testing

/// Drill scenarios run in the simulator, and a failing simulated schedule is shortened and
/// written back as a drill.
@Suite struct ScenarioScheduleTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let regions = root.appendingPathComponent("regions").path

    static func drill(_ name: String) throws -> Scenario {
        try ScenarioLoader.load(file: root.appendingPathComponent("simulations/\(name).yaml").path).scenario
    }

    @Test func aDrillsFaultsBecomeASimulationSchedule() throws {
        let topology = try TopologyLoader.load(directory: Self.regions)
        let power = try ScenarioSchedule.faults(of: Self.drill("zone-power-loss"), topology: topology)
        #expect(power.count == 1)
        #expect(power.first?.kind == .powerLoss && power.first?.primaryOf == "eu-central-1")
        #expect(power.first?.atMilliseconds == 6_000 && power.first?.forMilliseconds == 8_000, "until the heal at 14 s")
        // coordinator-crash-at epoch arms the next zone fault: the leader dies after journaling that step.
        let crash = try ScenarioSchedule.faults(of: Self.drill("coordinator-crash-during-failover"), topology: topology)
        #expect(crash.map(\.kind) == [.powerLoss])
        #expect(crash.first?.coordinatorCrashAfter == "epoch")
        #expect(throws: ScenarioSchedule.Unsupported.self) { try ScenarioSchedule.faults(of: Self.drill("move-under-load"), topology: topology) }
    }

    /// A drill's move runs in the simulator: the tenant placed as the drill places it, the
    /// fault waiting for the freeze striking the source's primary when the move journals it.
    @Test func aDrillsMoveAndItsFaultAtAPhaseRunInTheSimulator() throws {
        let topology = try TopologyLoader.load(directory: Self.regions)
        let settings = try ScenarioSchedule.settings(of: Self.drill("move-fault-at-freeze"), topology: topology)
        #expect(settings.move?.from == "us-east-1" && settings.move?.toRealm == "eu" && settings.move?.expect == .ended)
        #expect(settings.moveFault?.phase == .frozen && settings.moveFault?.onTarget == false)
        #expect(settings.moveFault?.healAtMilliseconds == 36_000)
        let result = Simulation(topology: topology, seed: 1, settings: settings).run()
        #expect(result.passed, "\(result.violations)")
        #expect(result.moves.first?.phases.contains(MovePhase.frozen.rawValue) == true)
        #expect(result.faults.count == 1 && result.faults[0].zone == topology.shard("us-east-1")?.primaryZone, "struck at the freeze")
        #expect(throws: ScenarioSchedule.Unsupported.self) { try ScenarioSchedule.settings(of: Self.drill("move-with-zone-loss"), topology: topology) }
    }

    @Test func theSimulatedDrillStrikesThePrimaryOfItsShardWhenTheFaultStarts() throws {
        let topology = try TopologyLoader.load(directory: Self.regions)
        let scenario = try Self.drill("zone-power-loss")
        var settings = Simulation.Settings()
        settings.duration = scenario.duration
        settings.schedule = try ScenarioSchedule.faults(of: scenario, topology: topology)
        let result = Simulation(topology: topology, seed: 1, settings: settings).run()
        #expect(result.passed, "\(result.violations)")
        #expect(result.faults.first?.zone == topology.shard("eu-central-1")?.primaryZone)
        #expect(result.recoveries.map(\.shard) == ["eu-central-1"])
        #expect(result.promotions == 1)
    }

    @Test func aFailingScheduleIsShortenedAndWrittenAsADrill() throws {
        let topology = SimulationTests.topology
        var settings = Simulation.Settings()
        settings.broken = .promoteBeforeSynchronousStandbys
        settings.faults = 8
        settings.duration = .seconds(300)
        let original = Simulation(topology: topology, seed: 4, settings: settings).run()
        #expect(!original.passed)
        let shortened = try #require(Simulation.shrink(topology: topology, seed: 4, settings: settings))
        #expect(shortened.count < original.faults.count, "\(shortened.count) of \(original.faults.count)")
        var replay = settings
        replay.schedule = shortened
        #expect(!Simulation(topology: topology, seed: 4, settings: replay).run().passed, "the shortened schedule still breaks a rule")
        #expect(Simulation.shrink(topology: topology, seed: 4, settings: Simulation.Settings()) == nil, "a passing run has nothing to shorten")

        let (drill, skipped) = ScenarioSchedule.scenario(name: "sim-4", summary: "test", faults: shortened, durationMilliseconds: 300_000,
                                                         topology: topology, topologyDirectory: "/nowhere")
        let text = ScenarioWriter.yaml(drill)
        let loaded = try ScenarioLoader.load(file: "sim-4.yaml", text: text)
        try ScenarioLoader.check(loaded, against: topology, file: "sim-4.yaml")
        let drillable = shortened.filter { ![.flapping, .coordinatorCut, .clientsCut, .leaseLoss].contains($0.kind) }
        #expect(skipped.count >= shortened.count - drillable.count)
        #expect(loaded.scenario.faults.contains { [.powerLoss, .partition].contains($0.action) } || drillable.allSatisfy { $0.kind == .nodeCrash || $0.kind == .coordinatorCrash })
    }
}
