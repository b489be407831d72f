import ResidencyCore
import Testing

@Suite struct MoveMachineTests {
    @Test(arguments: Array(zip(MovePhase.forward.dropLast(), MovePhase.forward.dropFirst())))
    func eachStepThatSucceedsLeadsToTheNextPhase(from: MovePhase, to: MovePhase) throws {
        #expect(try MoveMachine.next(after: from, .succeeded) == to)
    }

    @Test(arguments: MovePhase.forward.filter { $0 < .switched })
    func aFailedStepBeforeTheSwitchRollsBack(phase: MovePhase) throws {
        #expect(try MoveMachine.next(after: phase, .failed("server gone")) == .rollingBack)
        #expect(try MoveMachine.next(after: phase, .rollbackRequested("operator")) == .rollingBack)
        #expect(MoveMachine.canRollBack(phase))
    }

    @Test(arguments: [MovePhase.switched, .retained])
    func fromTheSwitchOnAFailedStepIsRetriedAndRollbackIsRefused(phase: MovePhase) throws {
        #expect(try MoveMachine.next(after: phase, .failed("server gone")) == phase)
        #expect(throws: MoveMachine.Refusal.pastSwitch(phase)) { try MoveMachine.next(after: phase, .rollbackRequested("operator")) }
        #expect(throws: MoveMachine.Refusal.pastSwitch(phase)) { try MoveMachine.undo(from: phase) }
    }

    @Test func aRollbackEndsRolledBackOrIsRetried() throws {
        #expect(try MoveMachine.next(after: .rollingBack, .succeeded) == .rolledBack)
        #expect(try MoveMachine.next(after: .rollingBack, .failed("target gone")) == .rollingBack)
    }

    @Test(arguments: [MovePhase.purged, .rolledBack, .cancelled])
    func anEndedMoveGoesNowhere(phase: MovePhase) {
        #expect(throws: MoveMachine.Refusal.ended(phase)) { try MoveMachine.next(after: phase, .succeeded) }
    }

    @Test func theUndoStepsCoverWhatEachPhaseMayHaveCreated() throws {
        // The step out of `planned` creates the publication and the target's tracking.
        #expect(try MoveMachine.undo(from: .planned) == [.dropTracking, .dropPublication])
        // From `prepared` on, a slot, a subscription and copied rows may exist.
        for phase in [MovePhase.prepared, .copying, .catchingUp] {
            #expect(try MoveMachine.undo(from: phase) == [.dropSubscription, .deleteTargetRows, .dropTracking, .dropPublication])
        }
        // From `pre-verified` on, the step may have frozen the source.
        for phase in [MovePhase.preVerified, .frozen, .verified, .rollingBack] {
            #expect(try MoveMachine.undo(from: phase) == MoveMachine.Undo.allCases)
        }
        #expect(MoveMachine.Undo.allCases.first == .dropSubscription, "nothing may apply to the target while its rows are deleted")
    }

    @Test func onlyMovesBeforeTheSwitchOrRollingBackHoldTheirTenant() {
        #expect(MovePhase.forward.filter(\.isOpen) == [.planned, .prepared, .copying, .catchingUp, .preVerified, .frozen, .verified])
        #expect(MovePhase.rollingBack.isOpen)
        #expect(!MovePhase.rolledBack.isOpen && !MovePhase.switched.isOpen && !MovePhase.cancelled.isOpen)
        #expect(MovePhase.closedSQLList == "'switched', 'retained', 'purged', 'rolled-back', 'cancelled'")
    }
}
