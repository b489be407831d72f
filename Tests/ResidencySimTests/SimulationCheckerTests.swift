import ResidencyCore
@testable import ResidencySim
import Testing

/// Each rule of `SimulationChecker` fails on a hand-made history that breaks it, and a
/// history that keeps them all passes.
@Suite struct SimulationCheckerTests {
    /// One shard over zones a, b, c; node 0 (zone a) is the first primary.
    static let names: [NodeID] = ["a", "b", "c"].map { NodeID(shard: "s", zone: ZoneID($0)) }

    static func checker() -> SimulationChecker {
        SimulationChecker(names: names, shards: ["s"], initialPrimaries: [0])
    }

    /// Records 1, 2 on the primary's timeline; record 3 on a branch from 1.
    static func records() -> RecordTree {
        var records = RecordTree()
        let first = records.append(after: 0)
        _ = records.append(after: first)
        _ = records.append(after: first)
        return records
    }

    @Test func aHistoryThatKeepsEveryRulePasses() {
        var checker = Self.checker()
        let records = Self.records()
        checker.acknowledged(1, of: 0, by: 0, holders: [0, 1], members: [0, 1, 2], records: records, now: 10)
        checker.acknowledged(2, of: 0, by: 0, holders: [0, 2], members: [0, 1, 2], records: records, now: 20)
        checker.promoted(2, of: 0, tip: 2, inRegion: true, region: "r", records: records, now: 30)
        checker.writablePrimaries([2], of: 0, now: 30)
        checker.finish(end: 500, settleSeconds: 20)
        #expect(checker.violations.isEmpty, "\(checker.violations)")
    }

    @Test func aWriteAcknowledgedWhileOneZoneHeldItIsCaught() {
        var checker = Self.checker()
        checker.acknowledged(1, of: 0, by: 0, holders: [0], members: [0, 1, 2], records: Self.records(), now: 10)
        #expect(checker.violations == ["at 10 ms: write 1 of s acknowledged by s/a while only s/a held it"])
    }

    @Test func aWriteAcknowledgedByADeposedPrimaryIsCaught() {
        var checker = Self.checker()
        let records = Self.records()
        checker.promoted(1, of: 0, tip: 1, inRegion: true, region: "r", records: records, now: 10)
        checker.acknowledged(2, of: 0, by: 0, holders: [0, 2], members: [0, 1, 2], records: records, now: 20)
        #expect(checker.violations == ["at 20 ms: write 2 of s acknowledged by s/a after the promotion of s/b"])
    }

    @Test func aPromotionThatLosesAnAcknowledgedWriteIsCaught() {
        var checker = Self.checker()
        let records = Self.records()
        checker.acknowledged(2, of: 0, by: 0, holders: [0, 1], members: [0, 1, 2], records: records, now: 10)
        // Node 2's WAL ends at record 3, a branch from 1: record 2 is not on it.
        checker.promoted(2, of: 0, tip: 3, inRegion: true, region: "r", records: records, now: 20)
        #expect(checker.violations.count == 1)
        #expect(checker.violations.first?.hasPrefix("at 20 ms: acknowledged write 2 of s") == true, "\(checker.violations)")
    }

    @Test func aPromotionOutsideTheRegionIsCaught() {
        var checker = Self.checker()
        checker.promoted(1, of: 0, tip: 0, inRegion: false, region: "r", records: Self.records(), now: 5)
        #expect(checker.violations == ["at 5 ms: promotion of s/b outside region r"])
    }

    @Test func twoPrimariesAcknowledgingAtOnceAreCaught() {
        var checker = Self.checker()
        checker.writablePrimaries([0, 1], of: 0, now: 7)
        #expect(checker.violations == ["at 7 ms: s has 2 primaries acknowledging commits: s/a, s/b"])
    }

    @Test func aShardLeftWithoutPrimaryAtTheEndIsCaught() {
        var checker = Self.checker()
        checker.acknowledged(1, of: 0, by: 0, holders: [0, 1], members: [0, 1, 2], records: Self.records(), now: 10)
        checker.finish(end: 60_000, settleSeconds: 20)
        #expect(checker.violations == ["at 60000 ms: s acknowledged no write in the last second of the run: no primary 20 s after the last fault"])
    }
}
