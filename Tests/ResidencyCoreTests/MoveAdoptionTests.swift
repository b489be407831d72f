import ResidencyCore
import Testing

@Suite struct MoveAdoptionTests {
    let settings = MoveSettings()

    func decide(_ phase: MovePhase, window: MoveWindow? = nil, clock: Int64 = 10_000, held: Bool = false, age: Duration?) throws -> MoveAdoption.Decision {
        let move = try MoveDriverTests().move(phase, window: window)
        return MoveAdoption.decide(move, controlClockMilliseconds: clock, executorHoldsLock: held, heartbeatAge: age, settings: settings)
    }

    @Test(arguments: [MovePhase.planned, .prepared, .copying, .catchingUp, .preVerified, .frozen, .verified, .switched, .rollingBack])
    func anOpenMoveThatNobodyExecutesIsAdoptedOnceItsHeartbeatIsStale(phase: MovePhase) throws {
        #expect(try decide(phase, age: .seconds(6)) == .adopt)
        #expect(try decide(phase, age: nil) == .adopt)
        #expect(try decide(phase, age: .seconds(1)) == .leave, "a move start between recording and locking its move")
    }

    @Test func anExecutedMoveIsLeftAloneUntilItsExecutorStopsStampingThenDeposed() throws {
        #expect(try decide(.copying, held: true, age: .seconds(3)) == .leave)
        #expect(try decide(.copying, held: true, age: .seconds(31)) == .depose)
    }

    @Test(arguments: [MovePhase.retained, .purged, .rolledBack, .cancelled])
    func endedAndRetainedMovesAreNeverAdopted(phase: MovePhase) throws {
        #expect(try decide(phase, age: .seconds(600)) == .leave)
    }

    @Test func aScheduledMoveWaitsForItsWindow() throws {
        let window = MoveWindow(startMilliseconds: 20_000, durationMilliseconds: 60_000)
        #expect(try decide(.planned, window: window, clock: 10_000, age: .seconds(600)) == .leave)
        #expect(try decide(.planned, window: window, clock: 20_000, age: .seconds(600)) == .adopt)
    }
}
