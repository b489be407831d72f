/// The transitions of a residency move, pure: what the next phase is after a step's
/// outcome, whether a rollback is allowed, and what a rollback from a phase must undo.
public enum MoveMachine {
    /// What happened to the step leading out of a phase.
    public enum Outcome: Hashable, Sendable {
        /// The step did everything it does.
        case succeeded
        /// The step failed (a server unreachable, verification found differences, ...).
        case failed(String)
        /// An operator (or, later, the scheduler) asked for a rollback.
        case rollbackRequested(String)
    }

    public enum Refusal: Error, Hashable, Sendable, CustomStringConvertible {
        /// Rollback asked for once the catalogue points at the target.
        case pastSwitch(MovePhase)
        /// The move has already ended.
        case ended(MovePhase)

        public var description: String {
            switch self {
            case let .pastSwitch(phase):
                "the move is \(phase.rawValue): it switched to the target already, so it cannot roll back (move the tenant again instead)"
            case let .ended(phase):
                "the move has ended (\(phase.rawValue))"
            }
        }
    }

    /// The phase after `phase` when its step had `outcome`.
    ///
    /// Before the switch a failure or a requested rollback leads to `rollingBack`; from the
    /// switch on a failed step stays where it is (it is retried: every step is idempotent)
    /// and a rollback request is refused.
    public static func next(after phase: MovePhase, _ outcome: Outcome) throws(Refusal) -> MovePhase {
        if phase.isFinal { throw .ended(phase) }
        switch outcome {
        case .succeeded:
            if phase == .rollingBack { return .rolledBack }
            return MovePhase.forward[MovePhase.forward.firstIndex(of: phase)! + 1]
        case .failed:
            return phase == .rollingBack || phase >= .switched ? phase : .rollingBack
        case .rollbackRequested:
            guard canRollBack(phase) else { throw .pastSwitch(phase) }
            return .rollingBack
        }
    }

    /// What an executor finds when it is about to do the step out of a phase: at its start,
    /// after a crash (a successor resuming the journaled phase), or after a step failed.
    public struct Circumstances: Hashable, Sendable {
        /// Set by an operator (`move rollback`).
        public var rollbackRequested: String?
        /// The move's window ended (a scheduled move only).
        public var windowEnded: Bool
        /// The source shard's epoch differs from the one the move started with.
        public var sourceFailover: Failover?
        /// The target shard's epoch differs from the one the move started with.
        public var targetFailover: Failover?
        /// After a target failover: whether the new target primary has the move's
        /// subscription and applies the source's changes (`nil`: not checked).
        public var subscriptionSurvived: Bool?

        public init(rollbackRequested: String? = nil, windowEnded: Bool = false, sourceFailover: Failover? = nil,
                    targetFailover: Failover? = nil, subscriptionSurvived: Bool? = nil) {
            self.rollbackRequested = rollbackRequested
            self.windowEnded = windowEnded
            self.sourceFailover = sourceFailover
            self.targetFailover = targetFailover
            self.subscriptionSurvived = subscriptionSurvived
        }

        /// Nothing happened: no request, window open, no failover.
        public static let calm = Circumstances()
    }

    /// A shard whose epoch changed since the move started: it failed over (or switched over).
    public struct Failover: Hashable, Sendable {
        public let shard: ShardID
        public let epochBefore: Int64
        public let epochNow: Int64

        public init(shard: ShardID, epochBefore: Int64, epochNow: Int64) {
            self.shard = shard
            self.epochBefore = epochBefore
            self.epochNow = epochNow
        }

        var epochs: String { "epoch \(epochBefore) -> \(epochNow)" }
    }

    /// What to do with a move in `phase` under `circumstances`.
    public enum Decision: Hashable, Sendable {
        /// (Re)do the step out of `phase`: every step is idempotent, so a step interrupted
        /// anywhere (a crash, a broken connection) simply runs again.
        case redo
        /// Roll back, for this reason.
        case rollBack(String)
        /// A target failover must first be checked: does the subscription live on the new primary?
        case checkSubscription
        /// Nothing to do: the move has ended.
        case ended
    }

    /// The resume rule, one place for every executor (first start, a successor after a
    /// crash, a step that failed):
    /// - from the switch on, and while rolling back, only forward: the step is redone
    ///   (a window that ends or a failover changes nothing: the catalogue already points
    ///   at the target, or the rollback must finish);
    /// - before the switch, in this order: an operator's rollback request; a source
    ///   failover (PostgreSQL 15 does not carry logical slots to the new primary); a target
    ///   failover after the subscription was created, unless the subscription survived on
    ///   the new primary (then the step is redone there); the window's end;
    /// - otherwise the step is redone.
    public static func decide(_ phase: MovePhase, _ circumstances: Circumstances) -> Decision {
        if phase.isFinal { return .ended }
        if phase >= .switched || phase == .rollingBack { return .redo }
        if let request = circumstances.rollbackRequested { return .rollBack("rollback requested: \(request)") }
        if let failover = circumstances.sourceFailover {
            return .rollBack("the source shard \(failover.shard) failed over during the move (\(failover.epochs)): PostgreSQL 15 does not carry the move's logical slot to the new primary; start the move again")
        }
        // The step out of `prepared` creates the subscription (and restarts the copy from
        // scratch), so before it exists a target failover only means: redo on the new primary.
        if let failover = circumstances.targetFailover, phase > .prepared {
            switch circumstances.subscriptionSurvived {
            case nil: return .checkSubscription
            case false?: return .rollBack("the target shard \(failover.shard) failed over during the move (\(failover.epochs)) and the move's subscription did not survive on its new primary; start the move again")
            case true?: break
            }
        }
        if circumstances.windowEnded { return .rollBack("its window ended before the switch") }
        return .redo
    }

    /// Whether a move in `phase` may still roll back.
    public static func canRollBack(_ phase: MovePhase) -> Bool { phase < .switched || phase == .rollingBack }

    /// What a rollback from `phase` has to undo, in order. A rollback always runs every
    /// undo step that any earlier phase could have needed (each is idempotent), so a
    /// rollback interrupted anywhere can simply run again.
    public enum Undo: String, Hashable, Sendable, CaseIterable {
        /// DROP SUBSCRIPTION on the target (which drops the slot on the source), or detach it and drop the slot separately.
        case dropSubscription = "drop-subscription"
        /// Lift the write fence on the source (early: the tenant's writers wait meanwhile).
        case unfreezeSource = "unfreeze-source"
        /// Delete the tenant's rows of the moved datasets on the target.
        case deleteTargetRows = "delete-target-rows"
        /// Remove the target's change tracking for the tenant.
        case dropTracking = "drop-tracking"
        /// DROP PUBLICATION on the source.
        case dropPublication = "drop-publication"
    }

    /// The undo steps for a rollback from `phase`: everything that the steps up to and
    /// including the one leading out of `phase` may have created (a step interrupted half
    /// way leaves the phase unchanged), in `Undo`'s order.
    public static func undo(from phase: MovePhase) throws(Refusal) -> [Undo] {
        guard canRollBack(phase) else { throw .pastSwitch(phase) }
        return Undo.allCases.filter { step in
            switch step {
            case .dropTracking, .dropPublication: true
            case .dropSubscription, .deleteTargetRows: phase >= .prepared
            case .unfreezeSource: phase >= .preVerified
            }
        }
    }
}
