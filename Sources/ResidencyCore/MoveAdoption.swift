/// Whether the leading coordinator takes over an open move, pure. An executor holds a
/// session-level advisory lock on its move (freed when its process or connection dies) and
/// stamps a heartbeat on the move's row while it works; a move that nobody executes is
/// adopted within seconds, whoever started it (`move start`, a drill, a coordinator).
public enum MoveAdoption {
    public enum Decision: Hashable, Sendable {
        /// Nothing to do: ended, waiting for its window or for its retention, or executed.
        case leave
        /// Nobody executes it: run it from its journaled phase.
        case adopt
        /// Its executor holds the lock but has stopped stamping its heartbeat (a frozen
        /// process): end its control session, which frees the lock and fences its journal.
        case depose
    }

    /// - Parameters:
    ///   - executorHoldsLock: another session holds the move's executor lock.
    ///   - heartbeatAge: time since the executor's last heartbeat (or the move's creation);
    ///     `nil` when never stamped.
    public static func decide(_ move: Move, controlClockMilliseconds: Int64, executorHoldsLock: Bool, heartbeatAge: Duration?,
                              settings: MoveSettings) -> Decision {
        if move.phase.isFinal || move.phase == .retained { return .leave }
        if move.isWaiting(nowMilliseconds: controlClockMilliseconds) { return .leave }
        if executorHoldsLock {
            guard let heartbeatAge else { return .leave }
            return heartbeatAge >= settings.deposeAfter ? .depose : .leave
        }
        guard let heartbeatAge else { return .adopt }
        return heartbeatAge >= settings.adoptAfter ? .adopt : .leave
    }
}
