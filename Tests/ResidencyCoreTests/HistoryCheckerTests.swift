import ResidencyCore
import Testing

/// The checker on hand-made histories: each finding must be caught.
@Suite struct HistoryCheckerTests {
    let topology = TopologyExample.topology
    let shard: ShardID = "eu-central-1"
    var a: NodeID { NodeID(shard: shard, zone: "eu-central-a") }
    var b: NodeID { NodeID(shard: shard, zone: "eu-central-b") }
    var c: NodeID { NodeID(shard: shard, zone: "eu-central-c") }
    let acme = TenantID(validating: "acme")!
    let t0: Int64 = 1_764_000_000_000  // a minute boundary: 2025-11-24T16:00:00Z

    func write(_ id: String, at ms: Int64, _ outcome: DrillHistory.Write.Outcome = .ok, by node: NodeID? = nil, duration: Int64 = 5) -> DrillHistory.Write {
        DrillHistory.Write(id: id, tenant: acme, shard: shard, invokedAtMs: t0 + ms, completedAtMs: t0 + ms + duration, outcome: outcome,
                           acknowledgedBy: outcome == .ok ? (node ?? a) : nil)
    }

    func rows(_ ids: [String], on nodes: [NodeID]) -> [DrillHistory.StoredRow] {
        nodes.flatMap { node in ids.map { DrillHistory.StoredRow(node: node, tenant: acme, id: $0) } }
    }

    func check(_ writes: [DrillHistory.Write], rows: [DrillHistory.StoredRow], promotions: [DrillHistory.Promotion] = [],
               faults: [DrillHistory.Fault] = [], final: NodeID? = nil) -> HistoryChecker {
        HistoryChecker(
            history: DrillHistory(writes: writes, promotions: promotions, faults: faults, initialPrimaries: [shard: a],
                                  finalPrimaries: [shard: final ?? a], rows: rows),
            topology: topology, realms: [acme: "eu"])
    }

    @Test func anAcknowledgedWriteMissingAtTheEndIsLost() {
        let checker = check([write("1", at: 0), write("2", at: 10), write("3", at: 20, .unknown)], rows: rows(["1"], on: [a, b, c]))
        #expect(checker.lostWrites.map(\.id) == ["2"])
        #expect(checker.lostAcknowledged == 1)
    }

    @Test func unknownAndFailedWritesMayBeMissingWithoutBeingLost() {
        let checker = check([write("1", at: 0), write("2", at: 10, .unknown), write("3", at: 20, .failed)], rows: rows(["1"], on: [a]))
        #expect(checker.lostWrites.isEmpty)
    }

    @Test func theFinalPrimaryDecidesWhatSurvived() {
        let checker = check([write("1", at: 0)], rows: rows(["1"], on: [a]), final: b)
        #expect(checker.lostWrites.map(\.id) == ["1"], "a row only on a fenced former primary is lost")
    }

    @Test func aDuplicateIsFound() {
        let checker = check([write("1", at: 0), write("1", at: 10)], rows: rows(["1"], on: [a]))
        #expect(checker.duplicates == ["1"])
        let stored = check([write("2", at: 0)], rows: rows(["2"], on: [a]) + [DrillHistory.StoredRow(node: a, tenant: TenantID(validating: "other")!, id: "2")])
        #expect(stored.duplicates == ["2"])
    }

    @Test func aFormerPrimarysAcknowledgementAfterItsSuccessorWasPromotedIsFoundSurvivedOrNot() {
        let promotion = DrillHistory.Promotion(node: b, atMs: t0 + 1_000)
        let writes = [write("before", at: 500), write("kept", at: 1_100, by: a), write("gone", at: 1_200, by: a), write("new", at: 1_300, by: b)]
        let checker = check(writes, rows: rows(["before", "kept", "new"], on: [b]), promotions: [promotion], final: b)
        #expect(checker.staleAcknowledgements.map(\.write.id) == ["kept", "gone"])
        #expect(checker.staleAcknowledgements.map(\.survived) == [true, false])
        #expect(checker.lostAcknowledged == 1)
    }

    @Test func aTenantsRowOutsideItsRealmIsAResidencyViolation() {
        let elsewhere = NodeID(shard: "us-east-1", zone: "us-east-a")
        let checker = check([write("1", at: 0)], rows: rows(["1"], on: [a]) + rows(["1"], on: [elsewhere]))
        #expect(checker.residencyViolations.map(\.row.node) == [elsewhere])
        #expect(checker.residencyViolations.first?.region == "us-east")
    }

    @Test func recoveryRunsFromTheFaultOnThePrimarysZoneToTheFirstWriteAcknowledgedElsewhere() {
        let fault = DrillHistory.Fault(atMs: t0 + 1_000, action: "power-loss", zone: "eu-central-a")
        let writes = [write("1", at: 900, by: a), write("2", at: 1_050, .unknown), write("3", at: 1_800, .failed), write("4", at: 2_100, by: b, duration: 30)]
        let checker = check(writes, rows: rows(["1", "4"], on: [b]), promotions: [DrillHistory.Promotion(node: b, atMs: t0 + 2_000)], faults: [fault], final: b)
        #expect(checker.recoveryByShard[shard] == .some(1_130))
        #expect(checker.worstRecoveryMs == 1_130)
        #expect(checker.unrecoveredShards.isEmpty)
    }

    @Test func aShardThatNeverRecoveredIsReported() {
        let fault = DrillHistory.Fault(atMs: t0 + 1_000, action: "power-loss", zone: "eu-central-a")
        let checker = check([write("1", at: 900), write("2", at: 1_500, .failed)], rows: rows(["1"], on: [a, b]), faults: [fault])
        #expect(checker.unrecoveredShards == [shard])
    }

    @Test func writesThatResumeOnlyAfterTheHealAreNoRecovery() {
        let faults = [DrillHistory.Fault(atMs: t0 + 1_000, action: "power-loss", zone: "eu-central-a"),
                      DrillHistory.Fault(atMs: t0 + 1_000, action: "power-loss", zone: "eu-central-b"),
                      DrillHistory.Fault(atMs: t0 + 5_000, action: "heal", zone: nil)]
        let writes = [write("1", at: 900), write("2", at: 2_000, .failed), write("3", at: 6_000, by: c)]
        let checker = check(writes, rows: rows(["1", "3"], on: [c]), faults: faults, final: c)
        #expect(checker.unrecoveredShards == [shard])
    }

    @Test func inACascadeTheFirstSuccessorsAcknowledgementsCountAsRecovery() {
        let faults = [DrillHistory.Fault(atMs: t0 + 1_000, action: "power-loss", zone: "eu-central-a"),
                      DrillHistory.Fault(atMs: t0 + 5_000, action: "power-loss", zone: "eu-central-b")]
        let writes = [write("1", at: 900), write("2", at: 2_000, by: b), write("3", at: 5_500, .failed)]
        let checker = check(writes, rows: rows(["1", "2"], on: [c]), faults: faults, final: c)
        #expect(checker.recoveryByShard[shard] == .some(1_005))
    }

    @Test func aFaultElsewhereDoesNotCountForTheShard() {
        let fault = DrillHistory.Fault(atMs: t0 + 1_000, action: "power-loss", zone: "eu-central-b")
        #expect(check([write("1", at: 0)], rows: rows(["1"], on: [a]), faults: [fault]).recoveryByShard.isEmpty)
    }

    @Test func unknownResultsCountAsFailedInTheirMinute() {
        let writes = (0..<20).map { write("\($0)", at: Int64($0) * 100, $0 == 3 ? .unknown : .ok) }
        let samples = check(writes, rows: rows(writes.map(\.id), on: [a])).minutesByTenant[acme]
        #expect(samples == [MinuteSample(minute: t0 / 60_000, requests: 20, failures: 1)])
    }

    @Test(arguments: [(100, 5, false), (100, 6, true), (20, 1, false), (19, 1, true), (0, 0, false)])
    func aMinuteIsDowntimeOnlyAboveFivePercentFailed(requests: Int, failures: Int, downtime: Bool) {
        #expect(Uptime.isDowntime(requests: requests, failures: failures) == downtime)
    }
}
