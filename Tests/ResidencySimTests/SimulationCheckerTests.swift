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

    @Test func aShardBackLaterThanItsBoundOrNeverIsCaught() {
        var checker = Self.checker()
        checker.recovered("s", fault: 1, kind: "power-loss", rto: 2_900, bound: 3_000, at: 100)
        #expect(checker.violations.isEmpty)
        checker.recovered("s", fault: 2, kind: "power-loss", rto: 3_100, bound: 3_000, at: 100)
        checker.recovered("s", fault: 3, kind: "partition", rto: nil, bound: 3_000, at: 200)
        #expect(checker.violations == ["at 3200 ms: s acknowledged no write for 3100 ms after fault 2 (power-loss): bound 3000 ms",
                                       "at 200 ms: s never acknowledged a write again after fault 3 (partition)"])
    }

    @Test func aMovingTenantWritableOnTwoShardsIsCaught() {
        var checker = Self.checker()
        checker.moveRouting(routedToTarget: false, sourceFenced: false, now: 1)
        checker.moveRouting(routedToTarget: true, sourceFenced: true, now: 2)
        #expect(checker.violations.isEmpty)
        checker.moveRouting(routedToTarget: true, sourceFenced: false, now: 3)
        #expect(checker.violations == ["at 3 ms: the moving tenant is writable on its source and its target at once"])
    }

    @Test func aMovesLostDuplicatedOrUnendedRowsAreCaught() {
        var checker = Self.checker()
        checker.moveEnded(acknowledged: [1, 2, 3], visible: [1, 2, 3, 4], shard: "t", finished: true, phase: .retained, end: 9)
        #expect(checker.violations.isEmpty, "an unacknowledged row may be there")
        checker.moveEnded(acknowledged: [1, 2, 3], visible: [1, 3], shard: "t", finished: true, phase: .retained, end: 10)
        checker.moveEnded(acknowledged: [1], visible: [1, 1], shard: "t", finished: true, phase: .retained, end: 11)
        checker.moveEnded(acknowledged: [], visible: [], shard: "t", finished: false, phase: .catchingUp, end: 12)
        #expect(checker.violations == [
            "at 10 ms: the moving tenant's acknowledged row(s) 2 (1 in all) are not on t, where it is routed",
            "at 11 ms: the moving tenant has 1 duplicated row(s) on t",
            "at 12 ms: the move did not end: still at catching-up when the run ended",
        ])
    }

    @Test func aShardLeftWithoutPrimaryAtTheEndIsCaught() {
        var checker = Self.checker()
        checker.acknowledged(1, of: 0, by: 0, holders: [0, 1], members: [0, 1, 2], records: Self.records(), now: 10)
        checker.finish(end: 60_000, settleSeconds: 20)
        #expect(checker.violations == ["at 60000 ms: s acknowledged no write in the last second of the run: no primary 20 s after the last fault"])
    }
}
