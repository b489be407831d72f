/// The decisions of one run of a residency move, pure: events in (a step finished or
/// failed with a typed cause, what the executor observed, a marker's round trip, the copy's
/// state, time passed), actions out (observe, run a step, journal a phase, wait until).
/// The executor carries the actions out and reports back; it decides nothing itself, so
/// a unit test or a simulator can reach every branch here with plain values.
///
/// The loop it drives: observe (the move's row: rollback request, epochs, the control
/// clock for the window), decide with `MoveMachine.decide`, run the step out of the
/// phase, journal the next phase, and again. Every wait is a `wait(until:)` with a limit
/// from `MoveSettings`; every failure comes back as a `Failure`, never as text to match.
///
/// Invariants: before the switch a failure ends in a rollback (after waiting up to
/// `settleLimit` for a failover to explain it); from the switch on, and while rolling back,
/// a failed step is retried with a growing pause, forever, against the shards' current
/// primaries (every such step is idempotent): no failure asks an operator to resume.
public struct MoveDriver: Sendable {
    /// The steps an executor runs. Each reports `.stepSucceeded` or `.stepFailed`, except
    /// the three that report a measurement (`pollCopy`, `marker`, `checkSubscription`).
    public enum Step: Hashable, Sendable, CustomStringConvertible {
        /// Publication on the source, change tracking registered on the target.
        case prepare
        /// The initial binary copy from the slot's snapshot, then the subscription.
        case copy
        /// Look at the subscription's state once: reports `.copyPolled`.
        case pollCopy
        /// Turn the target's change tracking on.
        case startTracking
        /// Insert a marker on the source and time its arrival on the target, and sample the
        /// source's WAL positions: reports `.markerArrived` (or fails after `timeout`).
        case marker(timeout: Duration)
        /// Count and multiset hash of every table on both sides, snapshots kept open.
        case preCheck
        /// Digest the keys changed so far, then fence the tenant's writes on the source.
        case freeze(timeout: Duration)
        /// Wait for the target to apply up to the freeze, then compare every row.
        case verify(timeout: Duration)
        /// Wait until everything applied on the target is on a standby of the target, then
        /// switch the catalogue (one transaction that also records the retained copy).
        case switchOver
        /// Drop subscription, slot, publication and change tracking.
        case cleanup
        /// Undo what the move created, in this order.
        case undo([MoveMachine.Undo])
        /// After a target failover: does the move's subscription live on the new primary and
        /// apply the source's changes? Reports `.subscriptionChecked`.
        case checkSubscription

        public var description: String {
            switch self {
            case .prepare: "prepare"
            case .copy: "copy"
            case .pollCopy: "wait for the copy"
            case .startTracking: "start change tracking"
            case .marker: "marker round trip"
            case .preCheck: "pre-check"
            case .freeze: "freeze"
            case .verify: "verify"
            case .switchOver: "switch"
            case .cleanup: "cleanup"
            case .undo: "rollback"
            case .checkSubscription: "check the subscription"
            }
        }
    }

    /// Why a step failed, as the executor classifies the error (by its kind, never by its text).
    public enum Failure: Hashable, Sendable {
        /// A server did not answer, a connection broke, a statement failed: a failover or a
        /// restart may explain it.
        case unavailable(String)
        /// Verification compared both sides and they differ.
        case verificationDiffers(String)
        /// The step stopped because the move must stop (the observation will say why).
        case interrupted(String)

        public var message: String {
            switch self {
            case let .unavailable(text), let .verificationDiffers(text), let .interrupted(text): text
            }
        }
    }

    /// What the executor read about the move right before deciding.
    public struct Observation: Hashable, Sendable {
        /// Set by an operator (`move rollback`).
        public var rollbackRequested: String?
        /// The control server's clock, milliseconds since 1970 (compared with the window).
        public var controlClockMilliseconds: Int64
        /// The current epochs of the move's source and target shards.
        public var sourceEpoch: Int64
        public var targetEpoch: Int64
        /// Whether both primaries answered (`nil`: not asked).
        public var primariesAnswer: Bool?

        public init(rollbackRequested: String? = nil, controlClockMilliseconds: Int64, sourceEpoch: Int64, targetEpoch: Int64,
                    primariesAnswer: Bool? = nil) {
            self.rollbackRequested = rollbackRequested
            self.controlClockMilliseconds = controlClockMilliseconds
            self.sourceEpoch = sourceEpoch
            self.targetEpoch = targetEpoch
            self.primariesAnswer = primariesAnswer
        }
    }

    public enum Event: Hashable, Sendable {
        case observed(Observation)
        case stepSucceeded(Step)
        case stepFailed(Step, Failure)
        /// The subscription's state: whether it streams every table, and its error count.
        case copyPolled(done: Bool, errors: Int64)
        /// A marker arrived after `roundTrip`; `sample` holds the source's WAL positions.
        case markerArrived(roundTrip: Duration, sample: CatchUpTrend.Sample?)
        /// A marker had not arrived after `waited` (its step's timeout): the target lags at
        /// least that much. A measurement, not a failure: catch-up goes on until its limit.
        case markerLate(waited: Duration, sample: CatchUpTrend.Sample?)
        /// `nil`: could not be checked (a server still unreachable).
        case subscriptionChecked(survived: Bool?)
        /// A `wait(until:)` has passed.
        case woke
    }

    public enum Action: Hashable, Sendable {
        /// Read the move's row and the shards' epochs (and ask both primaries, when
        /// `primaries`), stamp the heartbeat, report `.observed`.
        case observe(primaries: Bool)
        case run(Step)
        /// Journal `phase` (with `reason`), then pass its crash point.
        case enter(MovePhase, reason: String?)
        /// `phase` was journaled by the step itself (the switch): pass its crash point.
        case reached(MovePhase)
        /// Record these epochs as the ones the move's steps rely on; forget connections and
        /// the pre-check's snapshots (they were on the old primaries).
        case recordEpochs(source: Int64, target: Int64)
        /// Record why the current step is being retried (shown by `move status`).
        case journalReason(String)
        /// Record catch-up progress (the last marker's round trip and the trend).
        case progress(CatchUpTrend, roundTrip: Duration)
        /// Tell the operator: a progress line, and an event of `kind` in the log.
        case note(String, kind: String)
        /// Report `.woke` once `until` has passed.
        case wait(until: Instant)
        /// This run has ended: the move is `retained` or final.
        case finished
    }

    public let settings: MoveSettings
    public private(set) var move: Move
    /// Where catch-up stands (kept for `move status` and for the limit's message).
    public private(set) var trend: CatchUpTrend
    var rollbackFrom: MovePhase?
    /// Consecutive failures of the current step (forward-only phases and rollbacks).
    var failures = 0
    /// The move's reason before its retries began (why it rolls back, say): journaled
    /// again once the retried step succeeds, so that a transient error does not stay as
    /// the reason.
    var reasonBeforeRetries = ""
    /// A step before the switch failed: waiting until this moment for a failover to explain it.
    var settling: (deadline: Instant, failure: Failure)?
    /// Checking whether the subscription survived a target failover, until this moment.
    var checkingSubscriptionUntil: Instant?
    var subscriptionSurvived: Bool?
    /// When the executor started the step loop of the current phase (catch-up, the copy's wait).
    var phaseSince: Instant?
    /// The subscription's error count at the copy's first look (earlier errors are not its).
    var copyErrorsBefore: Int64?
    /// What `.woke` resumes with.
    var afterWait: [Action] = []

    public init(move: Move, settings: MoveSettings = MoveSettings()) {
        self.move = move
        self.settings = settings
        trend = CatchUpTrend(window: settings.rateWindow)
    }

    public var phase: MovePhase { move.phase }

    /// The first actions of a run.
    public mutating func start(now: Instant) -> [Action] {
        if move.phase.isFinal || move.phase == .retained { return [.finished] }
        phaseSince = now
        return [.observe(primaries: false)]
    }

    public mutating func handle(_ event: Event, now: Instant) -> [Action] {
        switch event {
        case let .observed(observation):
            return observed(observation, now: now)
        case .woke:
            let next = afterWait
            afterWait = []
            return next.isEmpty ? [.observe(primaries: settling != nil)] : next
        case let .stepSucceeded(step):
            return succeeded(step, now: now)
        case let .stepFailed(step, failure):
            return failed(step, failure, now: now)
        case let .copyPolled(done, errors):
            return copyPolled(done: done, errors: errors, now: now)
        case let .markerArrived(roundTrip, sample):
            return markerArrived(roundTrip, sample: sample, now: now)
        case let .markerLate(waited, sample):
            return markerArrived(waited, late: true, sample: sample, now: now)
        case let .subscriptionChecked(survived):
            return subscriptionChecked(survived, now: now)
        }
    }

    // MARK: observing and deciding

    /// Why a step under way (a long copy) must stop, per the same rule as between steps:
    /// `nil` when it may go on.
    public func interruption(_ observation: Observation) -> String? {
        var found = circumstances(observation)
        found.subscriptionSurvived = nil
        switch MoveMachine.decide(move.phase, found) {
        case .redo, .ended: return nil
        case let .rollBack(reason): return reason
        case .checkSubscription: return "the target shard \(move.plan.toShard) failed over"
        }
    }

    /// What the observation means for the move, per `MoveMachine.decide`.
    func circumstances(_ observation: Observation) -> MoveMachine.Circumstances {
        var found = MoveMachine.Circumstances(rollbackRequested: observation.rollbackRequested)
        if let window = move.window { found.windowEnded = observation.controlClockMilliseconds >= window.endMilliseconds }
        if let before = move.sourceEpoch, before != observation.sourceEpoch {
            found.sourceFailover = MoveMachine.Failover(shard: move.plan.fromShard, epochBefore: before, epochNow: observation.sourceEpoch)
        }
        if let before = move.targetEpoch, before != observation.targetEpoch {
            found.targetFailover = MoveMachine.Failover(shard: move.plan.toShard, epochBefore: before, epochNow: observation.targetEpoch)
            found.subscriptionSurvived = subscriptionSurvived
        }
        return found
    }

    mutating func observed(_ observation: Observation, now: Instant) -> [Action] {
        var actions: [Action] = []
        if move.sourceEpoch == nil || move.targetEpoch == nil {
            // The first run: the epochs its steps rely on.
            move.sourceEpoch = observation.sourceEpoch
            move.targetEpoch = observation.targetEpoch
            actions.append(.recordEpochs(source: observation.sourceEpoch, target: observation.targetEpoch))
        }
        move.rollbackRequested = observation.rollbackRequested
        let found = circumstances(observation)
        if let settling {
            // Waiting for a failover to explain a failed step: anything found decides at once.
            if found == .calm {
                if observation.primariesAnswer == true || now >= settling.deadline {
                    self.settling = nil
                    let why = observation.primariesAnswer == true ? "" : " (no failover of either shard within \(settings.settleLimit.inMilliseconds / 1000) s)"
                    return actions + rollBack("the step after \(move.phase.rawValue) failed: \(settling.failure.message)\(why)")
                }
                return actions + wait(until: now + settings.settlePollInterval, then: [.observe(primaries: true)])
            }
            self.settling = nil
        }
        switch MoveMachine.decide(move.phase, found) {
        case .ended:
            return actions + [.finished]
        case let .rollBack(reason):
            return actions + rollBack(reason)
        case .checkSubscription:
            checkingSubscriptionUntil = checkingSubscriptionUntil ?? now + settings.subscriptionSurvivalLimit
            return actions + [.run(.checkSubscription)]
        case .redo:
            if let failover = found.targetFailover, move.phase < .switched {
                // The target failed over before the subscription existed, or the subscription
                // survived on the new primary: the step is redone there.
                let how = subscriptionSurvived == true ? "the subscription survived on the new primary" : "its subscription did not exist yet"
                move.targetEpoch = failover.epochNow
                subscriptionSurvived = nil
                checkingSubscriptionUntil = nil
                phaseSince = now
                actions += [
                    .recordEpochs(source: move.sourceEpoch ?? observation.sourceEpoch, target: failover.epochNow),
                    .note("the target shard \(failover.shard) failed over at \(move.phase.rawValue) (epoch \(failover.epochBefore) -> \(failover.epochNow)); \(how): carrying on",
                          kind: "move.target-failed-over"),
                ]
                if move.phase == .verified {
                    // Verified against the old target primary, which applied changes without
                    // waiting for a standby: the new primary may lack the last of them.
                    // Verify again there (every row: the pre-check's snapshots are gone).
                    move.phase = .frozen
                    actions.append(.enter(.frozen, reason: "verifying again on the new target primary"))
                }
            }
            return actions + [.run(stepOut(of: move.phase))]
        }
    }

    /// The step that leads out of `phase` (or, for the phases that loop, its next look).
    func stepOut(of phase: MovePhase) -> Step {
        switch phase {
        case .planned: .prepare
        case .prepared: .copy
        case .copying: .pollCopy
        case .catchingUp, .preVerified: .marker(timeout: settings.markerTimeout)
        case .frozen: .verify(timeout: settings.freezeTimeout)
        case .verified: .switchOver
        case .switched: .cleanup
        case .rollingBack: .undo(undoSteps)
        case .retained, .purged, .rolledBack, .cancelled: preconditionFailure("no step out of \(phase.rawValue)")
        }
    }

    var undoSteps: [MoveMachine.Undo] {
        // A run that did not see the phase it rolled back from (a successor after a crash)
        // undoes everything: each undo step is idempotent.
        (try? MoveMachine.undo(from: rollbackFrom ?? .frozen)) ?? MoveMachine.Undo.allCases
    }

    mutating func rollBack(_ reason: String) -> [Action] {
        if move.phase != .rollingBack { rollbackFrom = move.phase }
        move.phase = .rollingBack
        move.reason = reason
        failures = 0
        return [.enter(.rollingBack, reason: reason), .run(.undo(undoSteps))]
    }

    /// Journals `phase` and goes on with the next observation.
    mutating func enter(_ phase: MovePhase, now: Instant) -> [Action] {
        move.phase = phase
        failures = 0
        phaseSince = now
        copyErrorsBefore = nil
        if phase == .catchingUp { trend = CatchUpTrend(window: settings.rateWindow) }
        let entering: Action = phase == .switched ? .reached(.switched) : .enter(phase, reason: nil)
        if phase.isFinal || phase == .retained { return [entering, .finished] }
        return [entering, .observe(primaries: false)]
    }

    mutating func wait(until: Instant, then actions: [Action]) -> [Action] {
        afterWait = actions
        return [.wait(until: until)]
    }

    // MARK: step outcomes

    mutating func succeeded(_ step: Step, now: Instant) -> [Action] {
        switch step {
        case .pollCopy, .marker, .checkSubscription:
            preconditionFailure("\(step) reports a measurement, not success")
        default:
            // `MoveMachine.next` is the one place that orders the phases.
            guard let next = try? MoveMachine.next(after: move.phase, .succeeded) else {
                preconditionFailure("a step succeeded in the ended phase \(move.phase.rawValue)")
            }
            let restore: [Action] = failures > 0 ? [.journalReason(reasonBeforeRetries)] : []
            return restore + enter(next, now: now)
        }
    }

    mutating func failed(_ step: Step, _ failure: Failure, now: Instant) -> [Action] {
        if case .checkSubscription = step { return subscriptionChecked(nil, now: now) }
        // `MoveMachine.next` says whether a failed step is retried where it is (from the
        // switch on, and while rolling back) or undone.
        if (try? MoveMachine.next(after: move.phase, .failed(failure.message))) == move.phase {
            // Only forward: the same step again, against the current primaries, after a pause.
            failures += 1
            if failures == 1 { reasonBeforeRetries = move.reason }
            let pause = settings.retryPause(attempt: failures)
            let reason = "\(step) failed (attempt \(failures)): \(failure.message); retrying in \(pause.inMilliseconds) ms"
            return [.journalReason(reason), .note(reason, kind: "move.retry")] + wait(until: now + pause, then: [.observe(primaries: false)])
        }
        switch failure {
        case let .verificationDiffers(text):
            return rollBack(text)
        case .interrupted:
            return [.observe(primaries: false)]
        case .unavailable:
            // A zone's loss breaks a step before the coordinator has promoted a successor:
            // deciding at once would call it a plain failure. Wait for the failover to show.
            settling = (now + settings.settleLimit, failure)
            return [.observe(primaries: true)]
        }
    }

    mutating func copyPolled(done: Bool, errors: Int64, now: Instant) -> [Action] {
        let before = copyErrorsBefore ?? errors
        copyErrorsBefore = before
        if errors > before {
            return failed(.pollCopy, .unavailable("the subscription reported \(errors - before) error(s) on the target (see its server log)"), now: now)
        }
        if done { return [.run(.startTracking)] }
        if now - (phaseSince ?? now) > settings.copyStartLimit {
            return failed(.pollCopy, .unavailable("the subscription has not started streaming within \(settings.copyStartLimit.inMilliseconds / 1000) s"), now: now)
        }
        return wait(until: now + settings.copyPollInterval, then: [.observe(primaries: false)])
    }

    mutating func markerArrived(_ roundTrip: Duration, late: Bool = false, sample: CatchUpTrend.Sample?, now: Instant) -> [Action] {
        if let sample { trend.add(sample) }
        let measured = late ? "the last marker had not arrived after \(roundTrip.inMilliseconds) ms" : "the marker round trip was \(roundTrip.inMilliseconds) ms"
        let since = phaseSince ?? now
        var actions: [Action] = [.progress(trend, roundTrip: roundTrip)]
        switch move.phase {
        case .catchingUp:
            if !late, roundTrip <= settings.caughtUpRoundTrip { return actions + [.run(.preCheck)] }
            if now - since > settings.catchUpLimit {
                return actions + rollBack(
                    "catch-up did not converge within \(Self.minutes(settings.catchUpLimit)): \(measured) "
                        + "(caught up at <= \(settings.caughtUpRoundTrip.inMilliseconds) ms); \(trend.summary)")
            }
        case .preVerified:
            // The pre-check competed with the apply worker for the CPU: let the target catch up
            // again, so that the freeze does not wait for that backlog (or start it anyway).
            if (!late && roundTrip <= settings.freezeRoundTrip) || now - since > settings.preFreezeCatchUpLimit {
                return actions + [.run(.freeze(timeout: settings.freezeTimeout))]
            }
        default:
            preconditionFailure("a marker outside catch-up (\(move.phase.rawValue))")
        }
        actions.append(.observe(primaries: false))
        return actions
    }

    mutating func subscriptionChecked(_ survived: Bool?, now: Instant) -> [Action] {
        if let survived {
            subscriptionSurvived = survived
            return [.observe(primaries: false)]
        }
        if let until = checkingSubscriptionUntil, now < until {
            return wait(until: now + settings.subscriptionCheckPause, then: [.run(.checkSubscription)])
        }
        subscriptionSurvived = false
        return [.observe(primaries: false)]
    }

    static func minutes(_ duration: Duration) -> String {
        let seconds = duration.inMilliseconds / 1000
        return seconds % 60 == 0 && seconds >= 60 ? "\(seconds / 60) min" : "\(seconds) s"
    }
}
