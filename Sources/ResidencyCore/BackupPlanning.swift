/// How often the coordinator takes a base backup of each shard and how long the vault keeps
/// what it stores (`backups:` in topology.yaml).
public struct BackupSettings: Hashable, Sendable, Codable {
    /// Hours between two base backups of a shard; 0 turns the coordinator's backups off.
    public var intervalHours: Int
    /// Days every object is kept (WORM) unless a tier asks for more.
    public var retentionDays: Int
    /// Days per service tier; a shard's objects are kept for the longest of them, since one
    /// WAL archive serves every tenant of the shard.
    public var tierRetentionDays: [String: Int]

    public static let defaultRetentionDays = 30

    public init(intervalHours: Int = 24, retentionDays: Int = Self.defaultRetentionDays, tierRetentionDays: [String: Int] = [:]) {
        self.intervalHours = intervalHours
        self.retentionDays = retentionDays
        self.tierRetentionDays = tierRetentionDays
    }

    /// The retention applied to every object: the longest of the default and the tiers'.
    public var effectiveRetentionDays: Int { max(retentionDays, tierRetentionDays.values.max() ?? 0) }

    enum CodingKeys: String, CodingKey {
        case intervalHours = "interval_hours", retentionDays = "retention_days", tierRetentionDays = "tier_retention_days"
    }
}

/// A WAL segment file name, `TTTTTTTTXXXXXXXXYYYYYYYY`: timeline, then the segment number
/// split in two (16 MiB segments: 256 segments per "log" of 4 GiB).
public struct WALSegment: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let timeline: UInt32
    /// The segment's index from the start of WAL (LSN / segment size).
    public let number: UInt64

    public static let segmentBytes: UInt64 = 16 << 20
    static let segmentsPerLog: UInt64 = 0x1_0000_0000 / segmentBytes

    public init(timeline: UInt32, number: UInt64) {
        self.timeline = timeline
        self.number = number
    }

    /// The segment that holds `lsn` on `timeline`.
    public init(timeline: UInt32, containing lsn: LSN) {
        self.init(timeline: timeline, number: lsn.value / Self.segmentBytes)
    }

    /// Parses a plain segment name; `nil` for anything else (`.history`, `.partial`,
    /// `.backup` files, or not 24 hex digits).
    public init?(name: String) {
        let characters = Array(name.utf8)
        guard characters.count == 24, characters.allSatisfy({ (48...57).contains($0) || (65...70).contains($0) }),
              let timeline = UInt32(name.prefix(8), radix: 16),
              let log = UInt64(name.dropFirst(8).prefix(8), radix: 16),
              let segment = UInt64(name.suffix(8), radix: 16), segment < Self.segmentsPerLog
        else { return nil }
        self.init(timeline: timeline, number: log * Self.segmentsPerLog + segment)
    }

    public var name: String {
        Self.hex8(UInt64(timeline)) + Self.hex8(number / Self.segmentsPerLog) + Self.hex8(number % Self.segmentsPerLog)
    }

    public var description: String { name }

    public static func < (lhs: Self, rhs: Self) -> Bool { (lhs.number, lhs.timeline) < (rhs.number, rhs.timeline) }

    static func hex8(_ value: UInt64) -> String {
        let text = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 8 - text.count)) + text
    }
}

/// What a base backup recorded about itself: enough to choose one for a target time and to
/// know which WAL it needs.
public struct BackupFacts: Hashable, Sendable {
    public let id: String
    public let shard: ShardID
    /// When the backup was consistent (its stop point was written), seconds since 1970.
    public let consistentAt: Double
    public let timeline: UInt32
    public let startLSN: LSN
    public let stopLSN: LSN

    public init(id: String, shard: ShardID, consistentAt: Double, timeline: UInt32, startLSN: LSN, stopLSN: LSN) {
        self.id = id
        self.shard = shard
        self.consistentAt = consistentAt
        self.timeline = timeline
        self.startLSN = startLSN
        self.stopLSN = stopLSN
    }

    public var firstSegment: WALSegment { WALSegment(timeline: timeline, containing: startLSN) }
    public var stopSegment: WALSegment { WALSegment(timeline: timeline, containing: stopLSN) }
}

/// The decisions of backup and restore, pure so that tests reach every branch.
public enum BackupPlanning {
    public enum Refusal: Error, Equatable, Sendable, CustomStringConvertible {
        /// No backup of the shard was consistent at or before the target time.
        case noBackupBefore(target: Double, earliest: Double?)
        /// A segment between the backup's start and the end of the archive is missing.
        case gap(after: WALSegment?, missing: UInt64)
        /// The archive does not reach the backup's stop point: the backup cannot become consistent.
        case archiveEndsBeforeConsistency(last: WALSegment?, needed: WALSegment)

        public var description: String {
            switch self {
            case .noBackupBefore(_, nil):
                return "there is no base backup of this shard yet (residency backup take --shard ...)"
            case .noBackupBefore(let target, let earliest?):
                return "no base backup of this shard was consistent by then; the earliest became consistent \(Int((earliest - target).rounded(.up))) s after the target"
            case .gap(let after, let missing):
                let name = WALSegment(timeline: after?.timeline ?? 1, number: missing).name
                return "the WAL archive has a gap: segment \(name) (or its successor on a later timeline) is missing"
                    + (after.map { " after \($0)" } ?? "") + "; a restore past it would silently stop short"
            case .archiveEndsBeforeConsistency(let last, let needed):
                return "the WAL archive ends at \(last?.name ?? "nothing") but the backup needs up to \(needed) to be consistent"
            }
        }
    }

    /// The newest backup consistent at or before `target` (seconds since 1970).
    public static func backup(for target: Double, among backups: [BackupFacts]) -> Result<BackupFacts, Refusal> {
        let usable = backups.filter { $0.consistentAt <= target }
        guard let chosen = usable.max(by: { ($0.consistentAt, $0.id) < ($1.consistentAt, $1.id) }) else {
            return .failure(.noBackupBefore(target: target, earliest: backups.map(\.consistentAt).min()))
        }
        return .success(chosen)
    }

    /// Checks that the archived segments run without a hole from the backup's first segment
    /// to the newest archived one. Segment numbers are taken across timelines (a new
    /// timeline's first segment repeats the number of the one its switch point is in), so a
    /// failover's new timeline continues the run.
    public static func checkContinuity(from backup: BackupFacts, archived: [WALSegment]) -> Refusal? {
        let numbers = Set(archived.filter { $0.timeline >= backup.timeline }.map(\.number))
        let first = backup.firstSegment.number
        guard let last = numbers.max(), last >= backup.stopSegment.number else {
            let newest = archived.filter { $0.timeline >= backup.timeline }.max()
            return .archiveEndsBeforeConsistency(last: newest, needed: backup.stopSegment)
        }
        var previous: WALSegment?
        for number in first...last {
            guard numbers.contains(number) else { return .gap(after: previous, missing: number) }
            previous = archived.filter { $0.number == number && $0.timeline >= backup.timeline }.max { $0.timeline < $1.timeline }
        }
        return nil
    }

    /// Where a base backup reads from: a healthy standby when there is one (the primary keeps
    /// its I/O for the tenants), the least lagging first; the primary otherwise.
    public struct SourceCandidate: Hashable, Sendable {
        public let node: NodeID
        public let isPrimary: Bool
        /// Reachable, in the expected role, and (a standby) streaming.
        public let healthy: Bool
        /// Bytes a standby's replay is behind the primary; 0 for the primary.
        public let lagBytes: UInt64

        public init(node: NodeID, isPrimary: Bool, healthy: Bool, lagBytes: UInt64) {
            self.node = node
            self.isPrimary = isPrimary
            self.healthy = healthy
            self.lagBytes = lagBytes
        }
    }

    public static func source(among candidates: [SourceCandidate]) -> NodeID? {
        let standbys = candidates.filter { !$0.isPrimary && $0.healthy }.sorted { ($0.lagBytes, $0.node) < ($1.lagBytes, $1.node) }
        return standbys.first?.node ?? candidates.first { $0.isPrimary && $0.healthy }?.node
    }

    /// The retain-until of objects written at `now` for a shard whose tenants' tiers keep
    /// backups `days` each: the longest wins, so no tenant's restore window is cut short by a
    /// neighbour of a lower tier.
    public static func retainUntil(now: Double, retentionDays: [Int]) -> Double {
        now + Double(max(retentionDays.max() ?? 0, 1)) * 86_400
    }

    /// Whether a shard's next daily backup is due: none yet, or the newest is older than the interval.
    public static func isDue(now: Double, newest: Double?, intervalSeconds: Double) -> Bool {
        guard let newest else { return true }
        return now - newest >= intervalSeconds
    }
}
