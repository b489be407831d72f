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

    // MARK: resume decisions

    static let beforeSwitch = MovePhase.forward.filter { $0 < .switched }
    static let fromSwitchOn: [MovePhase] = [.switched, .retained, .rollingBack]
    static let westFailover = MoveMachine.Failover(shard: "west-1", epochBefore: 3, epochNow: 4)
    static let eastFailover = MoveMachine.Failover(shard: "east-1", epochBefore: 7, epochNow: 8)

    @Test(arguments: MovePhase.allCases)
    func aCrashedMoveIsResumedByRedoingItsJournaledStepUnlessItEnded(phase: MovePhase) {
        #expect(MoveMachine.decide(phase, .calm) == (phase.isFinal ? .ended : .redo))
    }

    @Test(arguments: beforeSwitch)
    func aWindowThatEndsBeforeTheSwitchRollsTheMoveBack(phase: MovePhase) {
        let decision = MoveMachine.decide(phase, .init(windowEnded: true))
        guard case let .rollBack(reason) = decision else {
            Issue.record("\(phase): \(decision)")
            return
        }
        #expect(reason.contains("window ended before the switch"))
    }

    @Test(arguments: fromSwitchOn)
    func fromTheSwitchOnNeitherTheWindowNorAFailoverStopsTheMove(phase: MovePhase) {
        let everything = MoveMachine.Circumstances(rollbackRequested: "operator", windowEnded: true, sourceFailover: Self.westFailover,
                                                   targetFailover: Self.eastFailover, subscriptionSurvived: false)
        #expect(MoveMachine.decide(phase, everything) == .redo)
    }

    @Test(arguments: beforeSwitch)
    func aSourceFailoverBeforeTheSwitchRollsBackSayingWhichShardAndWhy(phase: MovePhase) {
        let decision = MoveMachine.decide(phase, .init(sourceFailover: Self.westFailover))
        #expect(decision == .rollBack("the source shard west-1 failed over during the move (epoch 3 -> 4): PostgreSQL 15 does not carry the move's logical slot to the new primary; start the move again"))
    }

    @Test(arguments: beforeSwitch)
    func aTargetFailoverIsRedoneBeforeTheSubscriptionExistsAndCheckedAfter(phase: MovePhase) {
        let unchecked = MoveMachine.decide(phase, .init(targetFailover: Self.eastFailover))
        let survived = MoveMachine.decide(phase, .init(targetFailover: Self.eastFailover, subscriptionSurvived: true))
        let lost = MoveMachine.decide(phase, .init(targetFailover: Self.eastFailover, subscriptionSurvived: false))
        if phase <= .prepared {
            // The step out of `prepared` creates the subscription (and restarts the copy).
            #expect(unchecked == .redo && survived == .redo && lost == .redo)
        } else {
            #expect(unchecked == .checkSubscription)
            #expect(survived == .redo)
            guard case let .rollBack(reason) = lost else {
                Issue.record("\(phase): \(lost)")
                return
            }
            #expect(reason.contains("target shard east-1 failed over") && reason.contains("did not survive"))
        }
    }

    @Test func reasonsComeInOrderRequestSourceTargetWindow() {
        let all = MoveMachine.Circumstances(rollbackRequested: "operator", windowEnded: true, sourceFailover: Self.westFailover,
                                            targetFailover: Self.eastFailover, subscriptionSurvived: false)
        #expect(MoveMachine.decide(.catchingUp, all) == .rollBack("rollback requested: operator"))
        var rest = all
        rest.rollbackRequested = nil
        guard case let .rollBack(source) = MoveMachine.decide(.catchingUp, rest) else { Issue.record("no rollback"); return }
        #expect(source.contains("source shard west-1"))
        rest.sourceFailover = nil
        guard case let .rollBack(target) = MoveMachine.decide(.catchingUp, rest) else { Issue.record("no rollback"); return }
        #expect(target.contains("target shard east-1"))
        rest.subscriptionSurvived = true
        guard case let .rollBack(window) = MoveMachine.decide(.catchingUp, rest) else { Issue.record("no rollback"); return }
        #expect(window.contains("window"))
    }
}
