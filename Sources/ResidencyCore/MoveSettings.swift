/// Every time limit, threshold and retry pause of a residency move, in one place: the
/// `MoveDriver` decides with them, the executor only carries the decisions out.
public struct MoveSettings: Hashable, Sendable {
    /// Largest marker round trip (source commit -> visible on the target) at which the
    /// target counts as caught up and the pre-check may start.
    public var caughtUpRoundTrip: Duration
    /// Largest marker round trip right before the freeze (the freeze waits for one more).
    public var freezeRoundTrip: Duration
    /// How long catching up again after the pre-check may take before the freeze starts
    /// anyway (it then waits for the rest, within `freezeTimeout`).
    public var preFreezeCatchUpLimit: Duration
    /// How long the freeze may wait for the tenant's open transactions, and the
    /// verification for the target to apply everything up to the freeze.
    public var freezeTimeout: Duration
    /// How long catch-up may take before the move rolls back and says why, with the rates.
    public var catchUpLimit: Duration
    /// How long one marker may take to arrive on the target while catching up.
    public var markerTimeout: Duration
    /// A subscription that has not started streaming after this long fails the move.
    public var copyStartLimit: Duration
    /// Pause between two looks at the subscription's state after the copy.
    public var copyPollInterval: Duration
    /// A copy asked to stop (rollback, failover) that is still stuck after this long is
    /// abandoned: it commits nothing more, and the rollback ends its sessions on the target.
    public var copyAbandonAfter: Duration
    /// After a step before the switch failed: how long to wait for a failover to show (a
    /// promotion) or for both primaries to answer again before calling it a plain failure.
    public var settleLimit: Duration
    /// Pause between two looks while settling.
    public var settlePollInterval: Duration
    /// After a target failover: how long the new primary may take to show that the move's
    /// subscription survived (it applies a marker).
    public var subscriptionSurvivalLimit: Duration
    /// Pause between two checks of a surviving subscription that could not be checked yet.
    public var subscriptionCheckPause: Duration
    /// How long one such check waits for its marker on the new target primary.
    public var subscriptionMarkerTimeout: Duration
    /// The first pause before a failed step is retried from the switch on, or while rolling
    /// back; it doubles with every further failure up to `retryPauseMax`.
    public var retryPauseFirst: Duration
    public var retryPauseMax: Duration
    /// The catch-up rates are computed over the samples of this last stretch.
    public var rateWindow: Duration
    /// How often an executor stamps its heartbeat on the move while it works.
    public var heartbeatInterval: Duration
    /// An open move whose executor lock is free and whose heartbeat is older than this is
    /// adopted by the leading coordinator (the grace covers a `move start` between
    /// recording the move and locking it).
    public var adoptAfter: Duration
    /// An executor that holds the lock but has not stamped its heartbeat for this long (a
    /// frozen process) is deposed: its control session is ended, which frees the lock and
    /// fails its next journal write.
    public var deposeAfter: Duration

    public init(
        caughtUpRoundTrip: Duration = .milliseconds(500),
        freezeRoundTrip: Duration = .milliseconds(50),
        preFreezeCatchUpLimit: Duration = .seconds(30),
        freezeTimeout: Duration = .seconds(5),
        catchUpLimit: Duration = .seconds(600),
        markerTimeout: Duration = .seconds(30),
        copyStartLimit: Duration = .seconds(120),
        copyPollInterval: Duration = .milliseconds(50),
        copyAbandonAfter: Duration = .seconds(5),
        settleLimit: Duration = .seconds(15),
        settlePollInterval: Duration = .milliseconds(250),
        subscriptionSurvivalLimit: Duration = .seconds(60),
        subscriptionCheckPause: Duration = .seconds(1),
        subscriptionMarkerTimeout: Duration = .seconds(5),
        retryPauseFirst: Duration = .milliseconds(500),
        retryPauseMax: Duration = .seconds(10),
        rateWindow: Duration = .seconds(60),
        heartbeatInterval: Duration = .seconds(1),
        adoptAfter: Duration = .seconds(5),
        deposeAfter: Duration = .seconds(30)
    ) {
        self.caughtUpRoundTrip = caughtUpRoundTrip
        self.freezeRoundTrip = freezeRoundTrip
        self.preFreezeCatchUpLimit = preFreezeCatchUpLimit
        self.freezeTimeout = freezeTimeout
        self.catchUpLimit = catchUpLimit
        self.markerTimeout = markerTimeout
        self.copyStartLimit = copyStartLimit
        self.copyPollInterval = copyPollInterval
        self.copyAbandonAfter = copyAbandonAfter
        self.settleLimit = settleLimit
        self.settlePollInterval = settlePollInterval
        self.subscriptionSurvivalLimit = subscriptionSurvivalLimit
        self.subscriptionCheckPause = subscriptionCheckPause
        self.subscriptionMarkerTimeout = subscriptionMarkerTimeout
        self.retryPauseFirst = retryPauseFirst
        self.retryPauseMax = retryPauseMax
        self.rateWindow = rateWindow
        self.heartbeatInterval = heartbeatInterval
        self.adoptAfter = adoptAfter
        self.deposeAfter = deposeAfter
    }

    /// The pause before retry number `attempt` (1 for the first retry): doubling, capped.
    public func retryPause(attempt: Int) -> Duration {
        var pause = retryPauseFirst
        for _ in 1..<max(attempt, 1) {
            pause = pause * 2
            if pause >= retryPauseMax { return retryPauseMax }
        }
        return min(pause, retryPauseMax)
    }

    /// A limit given on a command line: ISO 8601 (`PT10M`) or a number with a unit
    /// (`90s`, `10m`, `2h`); `nil` when malformed or not positive.
    public static func parseLimit(_ text: String) -> Duration? {
        if let milliseconds = MoveWindow.parseDuration(text) { return milliseconds > 0 ? .milliseconds(milliseconds) : nil }
        guard let unit = text.last, let value = Int64(text.dropLast()), value > 0, value <= 1_000_000 else { return nil }
        switch unit {
        case "s": return .seconds(value)
        case "m": return .seconds(value * 60)
        case "h": return .seconds(value * 3600)
        default: return nil
        }
    }
}
