import ResidencyCore
import Testing

/// The decisions of backup and restore: segment names, which backup serves a target time,
/// a gap in the archive, where a backup reads from, retention.
@Suite struct BackupPlanningTests {
    static func backup(_ id: String, at: Double, start: UInt64, stop: UInt64, timeline: UInt32 = 1) -> BackupFacts {
        BackupFacts(id: id, shard: "s1", consistentAt: at, timeline: timeline,
                    startLSN: LSN(start * WALSegment.segmentBytes + 40), stopLSN: LSN(stop * WALSegment.segmentBytes + 256))
    }

    static func segments(_ numbers: ClosedRange<UInt64>, timeline: UInt32 = 1) -> [WALSegment] {
        numbers.map { WALSegment(timeline: timeline, number: $0) }
    }

    @Test func segmentNamesRoundTrip() {
        let segment = WALSegment(timeline: 2, number: 0x1_0000_0000 / WALSegment.segmentBytes * 3 + 0xAB)
        #expect(segment.name == "0000000200000003000000AB")
        #expect(WALSegment(name: segment.name) == segment)
        #expect(WALSegment(timeline: 1, containing: LSN("0/5000028")!).name == "000000010000000000000005")
        for name in ["00000002.history", "000000010000000000000005.partial", "000000010000000000000005.00000028.backup",
                     "00000001000000000000000g", "0000000100000000000001000", "000000010000000000000100"] {
            #expect(WALSegment(name: name) == nil, "\(name)")
        }
    }

    @Test func theNewestBackupConsistentByTheTargetServesIt() throws {
        let backups = [Self.backup("a", at: 100, start: 1, stop: 1), Self.backup("b", at: 200, start: 5, stop: 6)]
        #expect(try BackupPlanning.backup(for: 150, among: backups).get().id == "a")
        #expect(try BackupPlanning.backup(for: 200, among: backups).get().id == "b")
        #expect(try BackupPlanning.backup(for: 10_000, among: backups).get().id == "b")
        #expect(throws: BackupPlanning.Refusal.noBackupBefore(target: 99, earliest: 100)) { try BackupPlanning.backup(for: 99, among: backups).get() }
        #expect(throws: BackupPlanning.Refusal.noBackupBefore(target: 99, earliest: nil)) { try BackupPlanning.backup(for: 99, among: []).get() }
    }

    @Test func aContinuousArchiveIsAccepted() {
        let backup = Self.backup("a", at: 100, start: 3, stop: 4)
        #expect(BackupPlanning.checkContinuity(from: backup, archived: Self.segments(1...9)) == nil)
        // A failover's new timeline starts with the number of the segment of its switch point.
        #expect(BackupPlanning.checkContinuity(from: backup, archived: Self.segments(1...6) + Self.segments(6...9, timeline: 2)) == nil)
        // Segments of an older timeline do not count for a backup taken on a later one.
        let later = Self.backup("b", at: 100, start: 3, stop: 4, timeline: 2)
        #expect(BackupPlanning.checkContinuity(from: later, archived: Self.segments(1...9)) != nil)
    }

    @Test func aHoleIsRefusedNamingTheMissingSegment() {
        let backup = Self.backup("a", at: 100, start: 3, stop: 4)
        let refusal = BackupPlanning.checkContinuity(from: backup, archived: Self.segments(1...5) + Self.segments(7...9))
        #expect(refusal == .gap(after: WALSegment(timeline: 1, number: 5), missing: 6))
        #expect(refusal?.description.contains("000000010000000000000006") == true)
        // The backup's own first segment missing is a gap too.
        #expect(BackupPlanning.checkContinuity(from: backup, archived: Self.segments(4...9)) == .gap(after: nil, missing: 3))
    }

    @Test func anArchiveShortOfTheStopPointIsRefused() {
        let backup = Self.backup("a", at: 100, start: 3, stop: 6)
        #expect(BackupPlanning.checkContinuity(from: backup, archived: Self.segments(3...5))
            == .archiveEndsBeforeConsistency(last: WALSegment(timeline: 1, number: 5), needed: WALSegment(timeline: 1, number: 6)))
        #expect(BackupPlanning.checkContinuity(from: backup, archived: [])
            == .archiveEndsBeforeConsistency(last: nil, needed: WALSegment(timeline: 1, number: 6)))
    }

    @Test func aBackupReadsFromTheLeastLaggingHealthyStandbyElseThePrimary() {
        let a = NodeID(shard: "s1", zone: "z-a"), b = NodeID(shard: "s1", zone: "z-b"), c = NodeID(shard: "s1", zone: "z-c")
        typealias C = BackupPlanning.SourceCandidate
        #expect(BackupPlanning.source(among: [C(node: a, isPrimary: true, healthy: true, lagBytes: 0),
                                              C(node: b, isPrimary: false, healthy: true, lagBytes: 900),
                                              C(node: c, isPrimary: false, healthy: true, lagBytes: 100)]) == c)
        #expect(BackupPlanning.source(among: [C(node: a, isPrimary: true, healthy: true, lagBytes: 0),
                                              C(node: b, isPrimary: false, healthy: false, lagBytes: 0),
                                              C(node: c, isPrimary: false, healthy: true, lagBytes: 5)]) == c)
        #expect(BackupPlanning.source(among: [C(node: a, isPrimary: true, healthy: true, lagBytes: 0),
                                              C(node: b, isPrimary: false, healthy: false, lagBytes: 0)]) == a)
        #expect(BackupPlanning.source(among: [C(node: a, isPrimary: true, healthy: false, lagBytes: 0),
                                              C(node: b, isPrimary: false, healthy: false, lagBytes: 0)]) == nil)
    }

    @Test func retentionIsTheLongestOfTheDefaultAndTheTiers() {
        #expect(BackupSettings().effectiveRetentionDays == 30)
        #expect(BackupSettings(retentionDays: 30, tierRetentionDays: ["premium": 90, "free": 7]).effectiveRetentionDays == 90)
        #expect(BackupSettings(retentionDays: 45, tierRetentionDays: ["free": 7]).effectiveRetentionDays == 45)
        #expect(BackupPlanning.isDue(now: 100, newest: nil, intervalSeconds: 86_400))
        #expect(!BackupPlanning.isDue(now: 86_399, newest: 0, intervalSeconds: 86_400))
        #expect(BackupPlanning.isDue(now: 86_400, newest: 0, intervalSeconds: 86_400))
    }
}
