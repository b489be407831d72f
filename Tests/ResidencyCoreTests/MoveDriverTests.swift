import ResidencyCore
import Testing

/// The move driver's decisions, one per test, without servers: events in, actions out.
@Suite struct MoveDriverTests {
    let settings = MoveSettings()
    let t0 = Instant.origin

    func move(_ phase: MovePhase, window: MoveWindow? = nil, epochs: (Int64, Int64)? = (1, 1)) throws -> Move {
        let audit = ResidencyAuditTests()
        var move = try audit.move(9, phase: phase, from: "us-east-1", to: "eu-west-1")
        move.window = window
        move.sourceEpoch = epochs?.0
        move.targetEpoch = epochs?.1
        return move
    }

    func observation(source: Int64 = 1, target: Int64 = 1, request: String? = nil, clock: Int64 = 1_000, answer: Bool? = nil) -> MoveDriver.Observation {
        MoveDriver.Observation(rollbackRequested: request, controlClockMilliseconds: clock, sourceEpoch: source, targetEpoch: target, primariesAnswer: answer)
    }

    /// A driver at `phase` that has started and is about to observe.
    func driver(at phase: MovePhase, window: MoveWindow? = nil, settings: MoveSettings? = nil) throws -> MoveDriver {
        var driver = MoveDriver(move: try move(phase, window: window), settings: settings ?? self.settings)
        #expect(driver.start(now: t0) == [.observe(primaries: false)])
        return driver
    }

    func at(_ seconds: Double) -> Instant { t0 + .milliseconds(Int64(seconds * 1000)) }

    func isRollback(_ actions: [MoveDriver.Action], containing text: String) -> Bool {
        guard case let .enter(.rollingBack, reason?) = actions.first else { return false }
        guard case .run(.undo) = actions.dropFirst().first else { return false }
        return reason.contains(text)
    }

    // MARK: the happy path

    @Test func aFirstRunRecordsTheEpochsItReliesOnThenPrepares() throws {
        var driver = MoveDriver(move: try move(.planned, epochs: nil))
        #expect(driver.start(now: t0) == [.observe(primaries: false)])
        #expect(driver.handle(.observed(observation(source: 3, target: 5)), now: t0) == [.recordEpochs(source: 3, target: 5), .run(.prepare)])
    }

    @Test(arguments: [
        (MovePhase.planned, MoveDriver.Step.prepare, MovePhase.prepared),
        (.prepared, .copy, .copying),
        (.copying, .startTracking, .catchingUp),
        (.catchingUp, .preCheck, .preVerified),
        (.preVerified, .freeze(timeout: .seconds(5)), .frozen),
        (.frozen, .verify(timeout: .seconds(5)), .verified),
    ])
    func aStepThatSucceedsJournalsTheNextPhaseAndObservesAgain(from: MovePhase, step: MoveDriver.Step, to: MovePhase) throws {
        var driver = try driver(at: from)
        #expect(driver.handle(.stepSucceeded(step), now: at(1)) == [.enter(to, reason: nil), .observe(primaries: false)])
        #expect(driver.phase == to)
    }

    @Test func theSwitchJournalsItselfAndTheCleanupEndsTheRunRetained() throws {
        var driver = try driver(at: .verified)
        #expect(driver.handle(.observed(observation()), now: t0) == [.run(.switchOver)])
        #expect(driver.handle(.stepSucceeded(.switchOver), now: t0) == [.reached(.switched), .observe(primaries: false)])
        #expect(driver.handle(.observed(observation()), now: t0) == [.run(.cleanup)])
        #expect(driver.handle(.stepSucceeded(.cleanup), now: t0) == [.enter(.retained, reason: nil), .finished])
    }

    @Test(arguments: [MovePhase.retained, .purged, .rolledBack, .cancelled])
    func aRunOfAMoveThatHasNothingLeftToDoEndsAtOnce(phase: MovePhase) throws {
        var driver = MoveDriver(move: try move(phase))
        #expect(driver.start(now: t0) == [.finished])
    }

    // MARK: waiting for the copy

    @Test func theCopysStateIsPolledUntilEveryTableStreamsThenTrackingStarts() throws {
        var driver = try driver(at: .copying)
        #expect(driver.handle(.observed(observation()), now: t0) == [.run(.pollCopy)])
        #expect(driver.handle(.copyPolled(done: false, errors: 2), now: t0) == [.wait(until: t0 + settings.copyPollInterval)])
        #expect(driver.handle(.woke, now: at(0.05)) == [.observe(primaries: false)])
        #expect(driver.handle(.copyPolled(done: true, errors: 2), now: at(0.1)) == [.run(.startTracking)], "errors from before the step are not its own")
    }

    @Test func newSubscriptionErrorsOrAStalledCopyFailTheStep() throws {
        var driver = try driver(at: .copying)
        _ = driver.handle(.copyPolled(done: false, errors: 0), now: t0)
        #expect(driver.handle(.copyPolled(done: false, errors: 1), now: at(1)) == [.observe(primaries: true)], "a failure first waits for a failover to explain it")
        var stalled = try self.driver(at: .copying)
        _ = stalled.handle(.copyPolled(done: false, errors: 0), now: t0)
        let late = t0 + settings.copyStartLimit + .seconds(1)
        #expect(stalled.handle(.copyPolled(done: false, errors: 0), now: late) == [.observe(primaries: true)])
        let actions = stalled.handle(.observed(observation(answer: true)), now: late)
        #expect(isRollback(actions, containing: "has not started streaming within 120 s"))
    }

    // MARK: catching up

    func sample(_ seconds: Double, written: UInt64, applied: UInt64) -> CatchUpTrend.Sample {
        CatchUpTrend.Sample(at: at(seconds), written: LSN(written), applied: LSN(applied))
    }

    @Test func catchUpGoesOnUntilAMarkerArrivesWithinTheThresholdThenPreChecks() throws {
        var driver = try driver(at: .catchingUp)
        #expect(driver.handle(.observed(observation()), now: t0) == [.run(.marker(timeout: settings.markerTimeout))])
        let slow = driver.handle(.markerArrived(roundTrip: .milliseconds(900), sample: sample(1, written: 10_000, applied: 2_000)), now: at(1))
        #expect(slow.count == 2 && slow.last == .observe(primaries: false))
        #expect(driver.trend.lagBytes == 8_000)
        let fast = driver.handle(.markerArrived(roundTrip: .milliseconds(120), sample: sample(2, written: 12_000, applied: 12_000)), now: at(2))
        #expect(fast.last == .run(.preCheck))
    }

    @Test func catchUpThatDoesNotConvergeWithinItsLimitRollsBackWithTheRates() throws {
        var driver = try driver(at: .catchingUp, settings: MoveSettings(catchUpLimit: .seconds(600)))
        // The source writes 2 MB/s; the target applies 1 MB/s: the lag grows.
        _ = driver.handle(.markerArrived(roundTrip: .seconds(2), sample: sample(540, written: 1_080_000_000, applied: 540_000_000)), now: at(540))
        let before = driver.handle(.markerArrived(roundTrip: .seconds(2), sample: sample(590, written: 1_180_000_000, applied: 590_000_000)), now: at(590))
        #expect(before.last == .observe(primaries: false))
        let actions = driver.handle(.markerArrived(roundTrip: .seconds(2), sample: sample(601, written: 1_202_000_000, applied: 601_000_000)), now: at(601))
        #expect(isRollback(actions.filter { if case .progress = $0 { false } else { true } }, containing: "catch-up did not converge within 10 min"))
        guard case let .enter(_, reason?) = actions.first(where: { if case .enter = $0 { true } else { false } }) else {
            Issue.record("no rollback")
            return
        }
        #expect(reason.contains("lag 601.0 MB"))
        #expect(reason.contains("the source wrote 120.0 MB/min"))
        #expect(reason.contains("the target applied 60.0 MB/min"))
        #expect(reason.contains("not gaining"))
    }

    @Test func aMarkerThatIsLateIsAMeasurementAndCatchUpGoesOnUntilItsLimitThenSaysWhy() throws {
        var driver = try driver(at: .catchingUp, settings: MoveSettings(catchUpLimit: .seconds(120)))
        // Under a growing lag a marker takes longer than its step's timeout: no failure.
        let late = driver.handle(.markerLate(waited: .seconds(30), sample: sample(30, written: 90_000_000, applied: 60_000_000)), now: at(30))
        #expect(late.last == .observe(primaries: false))
        #expect(driver.phase == .catchingUp)
        _ = driver.handle(.markerLate(waited: .seconds(30), sample: sample(60, written: 180_000_000, applied: 110_000_000)), now: at(60))
        let actions = driver.handle(.markerLate(waited: .seconds(30), sample: sample(121, written: 363_000_000, applied: 211_000_000)), now: at(121))
        guard case let .enter(.rollingBack, reason?) = actions.first(where: { if case .enter = $0 { true } else { false } }) else {
            Issue.record("no rollback: \(actions)")
            return
        }
        #expect(reason.contains("catch-up did not converge within 2 min: the last marker had not arrived after 30000 ms"), "\(reason)")
        #expect(reason.contains("the source wrote") && reason.contains("not gaining"), "\(reason)")
    }

    @Test func aLateMarkerBeforeTheFreezeNeverCountsAsCaughtUp() throws {
        var driver = try driver(at: .preVerified)
        #expect(driver.handle(.markerLate(waited: .milliseconds(10), sample: nil), now: at(1)).last == .observe(primaries: false))
    }

    @Test func beforeTheFreezeCatchUpWaitsForAShortRoundTripOrStartsTheFreezeAfterItsLimit() throws {
        var driver = try driver(at: .preVerified)
        #expect(driver.handle(.markerArrived(roundTrip: .milliseconds(80), sample: nil), now: at(1)).last == .observe(primaries: false))
        #expect(driver.handle(.markerArrived(roundTrip: .milliseconds(40), sample: nil), now: at(2)).last == .run(.freeze(timeout: settings.freezeTimeout)))
        var slow = try self.driver(at: .preVerified)
        let late = t0 + settings.preFreezeCatchUpLimit + .seconds(1)
        #expect(slow.handle(.markerArrived(roundTrip: .milliseconds(900), sample: nil), now: late).last == .run(.freeze(timeout: settings.freezeTimeout)))
    }

    // MARK: failures before the switch

    @Test(arguments: [MovePhase.planned, .prepared, .catchingUp, .preVerified, .frozen, .verified])
    func aFailedStepWhoseServersAnswerAgainIsAPlainFailureAndRollsBack(phase: MovePhase) throws {
        var driver = try driver(at: phase)
        #expect(driver.handle(.stepFailed(.prepare, .unavailable("connection refused")), now: t0) == [.observe(primaries: true)])
        let actions = driver.handle(.observed(observation(answer: true)), now: at(0.1))
        #expect(isRollback(actions, containing: "the step after \(phase.rawValue) failed: connection refused"))
        #expect(driver.phase == .rollingBack)
    }

    @Test func aFailedStepWaitsForAFailoverToExplainItUpToTheSettleLimit() throws {
        var driver = try driver(at: .catchingUp)
        _ = driver.handle(.stepFailed(.marker(timeout: .seconds(30)), .unavailable("server closed the connection")), now: t0)
        #expect(driver.handle(.observed(observation(answer: false)), now: at(1)) == [.wait(until: at(1) + settings.settlePollInterval)])
        #expect(driver.handle(.woke, now: at(1.25)) == [.observe(primaries: true)])
        // The coordinator promoted the source's standby: the failover is the reason.
        let actions = driver.handle(.observed(observation(source: 2, answer: false)), now: at(2))
        #expect(isRollback(actions, containing: "the source shard us-east-1 failed over during the move (epoch 1 -> 2)"))
    }

    @Test func aFailedStepThatNothingExplainsRollsBackOnceTheSettleLimitHasPassed() throws {
        var driver = try driver(at: .prepared)
        _ = driver.handle(.stepFailed(.copy, .unavailable("timeout")), now: t0)
        let actions = driver.handle(.observed(observation(answer: false)), now: t0 + settings.settleLimit)
        #expect(isRollback(actions, containing: "no failover of either shard within 15 s"))
    }

    @Test func differingVerificationRollsBackAtOnce() throws {
        var driver = try driver(at: .frozen)
        let actions = driver.handle(.stepFailed(.verify(timeout: .seconds(5)), .verificationDiffers("jira.issues differs")), now: t0)
        #expect(isRollback(actions, containing: "jira.issues differs"))
        #expect(actions.last == .run(.undo([.dropSubscription, .unfreezeSource, .deleteTargetRows, .dropTracking, .dropPublication])))
    }

    @Test func anInterruptedStepObservesAgainToLearnWhy() throws {
        var driver = try driver(at: .prepared)
        #expect(driver.handle(.stepFailed(.copy, .interrupted("stopped")), now: t0) == [.observe(primaries: false)])
        let actions = driver.handle(.observed(observation(request: "operator")), now: t0)
        #expect(isRollback(actions, containing: "rollback requested: operator"))
        #expect(actions.last == .run(.undo([.dropSubscription, .deleteTargetRows, .dropTracking, .dropPublication])), "nothing was frozen yet")
    }

    @Test func aWindowThatEndsBeforeTheSwitchRollsBackAndAfterItChangesNothing() throws {
        let window = MoveWindow(startMilliseconds: 0, durationMilliseconds: 10_000)
        var before = try driver(at: .catchingUp, window: window)
        #expect(isRollback(before.handle(.observed(observation(clock: 10_000)), now: t0), containing: "its window ended before the switch"))
        var after = try driver(at: .switched, window: window)
        #expect(after.handle(.observed(observation(clock: 10_000)), now: t0) == [.run(.cleanup)])
    }

    // MARK: target failovers

    @Test func aTargetFailoverBeforeTheSubscriptionExistsRedoesTheStepOnTheNewPrimary() throws {
        var driver = try driver(at: .prepared)
        let actions = driver.handle(.observed(observation(target: 2)), now: t0)
        #expect(actions.first == .recordEpochs(source: 1, target: 2))
        #expect(actions.last == .run(.copy))
    }

    @Test func aTargetFailoverAfterTheSubscriptionExistsCarriesOnOnlyIfItSurvived() throws {
        var survived = try driver(at: .catchingUp)
        #expect(survived.handle(.observed(observation(target: 2)), now: t0) == [.run(.checkSubscription)])
        #expect(survived.handle(.subscriptionChecked(survived: true), now: at(1)) == [.observe(primaries: false)])
        let actions = survived.handle(.observed(observation(target: 2)), now: at(1))
        #expect(actions.first == .recordEpochs(source: 1, target: 2))
        #expect(actions.last == .run(.marker(timeout: settings.markerTimeout)))
        // The epoch is now the move's own: the next observation is calm.
        #expect(survived.handle(.observed(observation(target: 2)), now: at(2)) == [.run(.marker(timeout: settings.markerTimeout))])

        var lost = try driver(at: .frozen)
        _ = lost.handle(.observed(observation(target: 2)), now: t0)
        _ = lost.handle(.subscriptionChecked(survived: false), now: t0)
        #expect(isRollback(lost.handle(.observed(observation(target: 2)), now: t0), containing: "did not survive on its new primary"))
    }

    @Test func aTargetFailoverAfterVerificationVerifiesAgainOnTheNewPrimaryBeforeTheSwitch() throws {
        // The subscription applies without waiting for a standby: the new target primary
        // may lack the last applied changes that the old one verified.
        var driver = try driver(at: .verified)
        #expect(driver.handle(.observed(observation(target: 2)), now: t0) == [.run(.checkSubscription)])
        _ = driver.handle(.subscriptionChecked(survived: true), now: t0)
        let actions = driver.handle(.observed(observation(target: 2)), now: t0)
        #expect(actions.suffix(2) == [.enter(.frozen, reason: "verifying again on the new target primary"), .run(.verify(timeout: settings.freezeTimeout))])
        #expect(driver.phase == .frozen)
    }

    @Test func aSubscriptionThatCannotBeCheckedIsRetriedUntilItsLimitThenCountsAsLost() throws {
        var driver = try driver(at: .catchingUp)
        _ = driver.handle(.observed(observation(target: 2)), now: t0)
        #expect(driver.handle(.subscriptionChecked(survived: nil), now: at(1)) == [.wait(until: at(1) + settings.subscriptionCheckPause)])
        #expect(driver.handle(.woke, now: at(2)) == [.run(.checkSubscription)])
        #expect(driver.handle(.subscriptionChecked(survived: nil), now: t0 + settings.subscriptionSurvivalLimit) == [.observe(primaries: false)])
        #expect(isRollback(driver.handle(.observed(observation(target: 2)), now: at(61)), containing: "did not survive"))
    }

    // MARK: from the switch on, only forward

    @Test func fromTheSwitchOnAFailedStepIsRetriedWithAGrowingPauseAndNeverRollsBack() throws {
        var driver = try driver(at: .switched)
        var now = t0
        var pauses: [Duration] = []
        for _ in 0..<8 {
            let actions = driver.handle(.stepFailed(.cleanup, .unavailable("terminating connection due to unexpected postmaster exit")), now: now)
            guard case let .journalReason(reason) = actions.first, case let .wait(until)? = actions.last else {
                Issue.record("not a retry: \(actions)")
                return
            }
            #expect(reason.contains("retrying"))
            pauses.append(until - now)
            now = until
            #expect(driver.handle(.woke, now: now) == [.observe(primaries: false)])
            // A failover of the source changes nothing from here on: the step is redone.
            #expect(driver.handle(.observed(observation(source: 2, request: "operator")), now: now) == [.run(.cleanup)])
        }
        #expect(pauses == [.milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(10), .seconds(10), .seconds(10)])
        #expect(driver.phase == .switched)
    }

    @Test func aRollbackIsRetriedUntilItEndsRolledBack() throws {
        var driver = try driver(at: .rollingBack)
        let everything = MoveDriver.Step.undo(MoveMachine.Undo.allCases)
        #expect(driver.handle(.observed(observation(source: 2)), now: t0) == [.run(everything)], "a resumed rollback undoes everything")
        let retry = driver.handle(.stepFailed(everything, .unavailable("no primary yet")), now: t0)
        #expect(retry.last == .wait(until: t0 + .milliseconds(500)))
        _ = driver.handle(.woke, now: at(0.5))
        _ = driver.handle(.observed(observation(source: 2)), now: at(0.5))
        #expect(driver.handle(.stepSucceeded(everything), now: at(1)) == [.journalReason(""), .enter(.rolledBack, reason: nil), .finished],
                "the transient error does not stay as the move's reason")
    }

    @Test func aRollbackThatNeededRetriesKeepsWhyItRolledBackAsItsReason() throws {
        var driver = try driver(at: .frozen)
        let why = "the source shard us-east-1 failed over during the move (epoch 1 -> 2)"
        _ = driver.handle(.observed(observation(source: 2)), now: t0)
        let undo = try #require(driver.handle(.observed(observation(source: 2)), now: t0).compactMap { if case let .run(step) = $0 { step } else { nil } }.first)
        _ = driver.handle(.stepFailed(undo, .unavailable("cannot execute DELETE in a read-only transaction")), now: t0)
        _ = driver.handle(.woke, now: at(1))
        _ = driver.handle(.observed(observation(source: 2)), now: at(1))
        let actions = driver.handle(.stepSucceeded(undo), now: at(2))
        guard case let .journalReason(reason)? = actions.first else {
            Issue.record("no reason restored: \(actions)")
            return
        }
        #expect(reason.hasPrefix(why), "\(reason)")
    }

    @Test func aRollbackRequestReachesAMoveInEveryPhaseBeforeTheSwitch() throws {
        for phase in MovePhase.forward where phase < .switched {
            var driver = try driver(at: phase)
            #expect(isRollback(driver.handle(.observed(observation(request: "operator")), now: t0), containing: "operator"))
        }
    }
}
