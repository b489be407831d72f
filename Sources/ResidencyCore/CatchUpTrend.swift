/// How a move's catch-up goes: WAL positions sampled on the source (how far it has
/// written, how far the move's slot has confirmed what the target applied), from which the
/// rates, the lag and an ETA follow. Pure: the executor samples, `MoveDriver` keeps them.
public struct CatchUpTrend: Hashable, Sendable {
    /// One look at the source.
    public struct Sample: Hashable, Sendable {
        public let at: Instant
        /// `pg_current_wal_lsn()` on the source.
        public let written: LSN
        /// The slot's `confirmed_flush_lsn`: what the target has applied.
        public let applied: LSN

        public init(at: Instant, written: LSN, applied: LSN) {
            self.at = at
            self.written = written
            self.applied = applied
        }

        public var lagBytes: Int64 { written > applied ? Int64(written.value - applied.value) : 0 }
    }

    /// Samples kept: the last `window` of them, oldest first.
    public private(set) var samples: [Sample] = []
    public let window: Duration

    public init(window: Duration) { self.window = window }

    public mutating func add(_ sample: Sample) {
        samples.append(sample)
        // Keep one sample older than the window, so that the rates span all of it.
        while samples.count > 2, let second = samples.dropFirst().first, sample.at - second.at >= window {
            samples.removeFirst()
        }
    }

    public var lagBytes: Int64? { samples.last?.lagBytes }

    /// WAL the source wrote, in bytes per second, over the kept samples (`nil` with fewer
    /// than two samples a moment apart).
    public var writtenBytesPerSecond: Int64? { rate(\.written) }
    /// WAL the target applied (the slot confirmed), in bytes per second.
    public var appliedBytesPerSecond: Int64? { rate(\.applied) }

    /// The time left until the lag reaches zero at the current rates; `nil` when unknown or
    /// when the target does not gain on the source (the lag does not shrink).
    public var eta: Duration? {
        guard let lag = lagBytes, let written = writtenBytesPerSecond, let applied = appliedBytesPerSecond else { return nil }
        if lag == 0 { return .zero }
        let gain = applied - written
        guard gain > 0 else { return nil }
        return .milliseconds(lag * 1000 / gain)
    }

    func rate(_ position: KeyPath<Sample, LSN>) -> Int64? {
        guard let first = samples.first, let last = samples.last else { return nil }
        let elapsed = (last.at - first.at).inMilliseconds
        guard elapsed >= 100 else { return nil }
        let bytes = last[keyPath: position] > first[keyPath: position] ? Int64(last[keyPath: position].value - first[keyPath: position].value) : 0
        return bytes * 1000 / elapsed
    }

    /// `9.9 MB`, for messages.
    public static func megabytes(_ bytes: Int64) -> String {
        let tenths = bytes * 10 / 1_000_000
        return "\(tenths / 10).\(tenths % 10) MB"
    }

    /// One line: lag, rates, ETA.
    public var summary: String {
        var parts: [String] = []
        if let lag = lagBytes { parts.append("lag \(Self.megabytes(lag))") }
        if let written = writtenBytesPerSecond { parts.append("the source wrote \(Self.megabytes(written * 60))/min") }
        if let applied = appliedBytesPerSecond { parts.append("the target applied \(Self.megabytes(applied * 60))/min") }
        if let eta { parts.append("ETA \(eta.inMilliseconds / 1000) s") } else if writtenBytesPerSecond != nil { parts.append("not gaining") }
        return parts.joined(separator: ", ")
    }
}
