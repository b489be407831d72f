import ResidencyCore
@testable import ResidencySim
import Testing

/// Residency moves in the simulator: Core's `MoveDriver` decides, the simulated shards carry
/// out its steps, and the checkers judge the moving tenant's rows and routing.
@Suite struct SimulatedMoveTests {
    /// The simulation tests' topology, with a realm per region (a tenant may move from north to south).
    static let topology: Topology = {
        let base = SimulationTests.topology
        return Topology(realms: [Realm(id: "north", regions: ["north"]), Realm(id: "south", regions: ["south"])], regions: base.regions,
                        apps: base.apps, failover: base.failover, serviceLevels: base.serviceLevels, controlPort: base.controlPort)
    }()

    static func settings(fault: Simulation.MoveFault? = nil, broken: Simulation.BrokenRule? = nil) -> Simulation.Settings {
        var settings = Simulation.Settings()
        settings.duration = .seconds(90)
        settings.faults = 0
        settings.move = .init(from: "north-1", to: "south-1", atMilliseconds: 2_000)
        settings.moveFault = fault
        settings.broken = broken
        return settings
    }

    @Test func aMoveUnderWritesSwitchesWithEveryRowOnTheTarget() throws {
        let result = Simulation(topology: Self.topology, seed: 1, settings: Self.settings()).run()
        #expect(result.passed, "\(result.violations)")
        let move = try #require(result.moves.first)
        #expect(move.phases.last == MovePhase.retained.rawValue, "\(move.phases)")
        #expect(move.routedTo == "south-1")
        #expect(move.acknowledgedRows > 1_000)
        #expect(move.rowsWhereRouted >= move.acknowledgedRows)
    }

    /// A power loss of the source's (or the target's) primary zone the moment the move
    /// journals each phase: the move ends by itself, rolled back before the switch or
    /// carried forward after it, and no acknowledged row is lost or duplicated.
    @Test(arguments: [MovePhase.prepared, .copying, .catchingUp, .preVerified, .frozen, .verified, .switched, .rollingBack])
    func aZoneLostAtAnyPhaseEndsTheMoveWithNoRowLost(_ phase: MovePhase) throws {
        for onTarget in [false, true] {
            for seed in UInt64(1)...3 {
                let result = Simulation(topology: Self.topology, seed: seed,
                                        settings: Self.settings(fault: .init(phase: phase, onTarget: onTarget))).run()
                let side = onTarget ? "target" : "source"
                #expect(result.passed, "\(side) zone lost at \(phase.rawValue), seed \(seed): \(result.violations.prefix(3))")
                let move = try #require(result.moves.first)
                #expect([MovePhase.retained.rawValue, MovePhase.rolledBack.rawValue].contains(move.phases.last ?? ""),
                        "\(side) at \(phase.rawValue), seed \(seed): \(move.phases)")
            }
        }
    }

    /// Random faults with a move under way (`simulate --random --move`), 10 seeds: no rule
    /// broken, and every move ends (switched or rolled back).
    @Test func randomFaultsDuringAMoveBreakNoRule() throws {
        var settings = Simulation.Settings()
        settings.randomMove = true
        for seed in UInt64(1)...10 {
            let result = Simulation(topology: Self.topology, seed: seed, settings: settings).run()
            #expect(result.passed, "seed \(seed): \(result.violations.prefix(3))")
            let move = try #require(result.moves.first, "seed \(seed) drew no move")
            #expect([MovePhase.retained.rawValue, MovePhase.rolledBack.rawValue].contains(move.phases.last ?? ""), "seed \(seed): \(move.phases)")
        }
    }

    /// A move that switches before its verification: caught (acknowledged rows missing on
    /// the target) within 5 seeds, and the failing seed replays the same.
    @Test func aSwitchBeforeVerificationIsCaught() throws {
        let settings = Self.settings(broken: .switchBeforeVerification)
        let caught = (UInt64(1)...5).first { !Simulation(topology: Self.topology, seed: $0, settings: settings).run().passed }
        let seed = try #require(caught, "not caught in 5 seeds")
        let result = Simulation(topology: Self.topology, seed: seed, settings: settings).run()
        #expect(result == Simulation(topology: Self.topology, seed: seed, settings: settings).run())
        #expect(result.violations.contains { $0.contains("acknowledged row(s)") && $0.contains("are not on south-1") }, "\(result.violations)")
    }
}
