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
