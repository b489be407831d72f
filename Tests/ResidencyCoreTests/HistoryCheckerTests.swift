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

    // MARK: moves

    /// `acme` moves from us-east-1 to eu-central-1 between t0+1000 and t0+3000; `nextDoor`
    /// shares the source shard, `faraway` is on eu-west-1.
    func moveHistory(_ writes: [DrillHistory.Write], outcome: String = "purged") -> DrillHistory {
        let source = NodeID(shard: "us-east-1", zone: "us-east-a")
        let target = NodeID(shard: shard, zone: "eu-central-a")
        let move = DrillHistory.Move(tenant: acme, id: 7, fromShard: "us-east-1", toShard: shard, toRealm: "eu", startedAtMs: t0 + 1_000,
                                     endedAtMs: t0 + 3_000, outcome: outcome, reason: "", freezeMs: 80)
        return DrillHistory(writes: writes, promotions: [], faults: [], initialPrimaries: ["us-east-1": source, shard: target],
                            finalPrimaries: ["us-east-1": source, shard: target], rows: [], moves: [move])
    }

    func write(_ id: String, of tenant: String, on shard: ShardID, at ms: Int64, _ outcome: DrillHistory.Write.Outcome = .ok) -> DrillHistory.Write {
        DrillHistory.Write(id: id, tenant: TenantID(validating: tenant)!, shard: shard, invokedAtMs: t0 + ms, completedAtMs: t0 + ms + 10, outcome: outcome,
                           acknowledgedBy: outcome == .ok ? NodeID(shard: shard, zone: ZoneID(String(shard.rawValue.dropLast(2)) + "-a")) : nil)
    }

    @Test func aMovingTenantsLongestWriteGapDuringItsMoveIsMeasuredFromStartToEnd() {
        let writes = [
            write("0", of: "acme", on: "us-east-1", at: 500),
            write("1", of: "acme", on: "us-east-1", at: 1_190),   // acknowledged at 1200: gap 200 from the start
            write("2", of: "acme", on: "us-east-1", at: 1_300, .failed),
            write("3", of: "acme", on: "us-east-1", at: 1_390),   // acknowledged at 1400: gap 200
            write("4", of: "acme", on: "us-east-1", at: 2_090),   // 2100: gap 700 (the freeze)
            write("5", of: "acme", on: "us-east-1", at: 2_490),   // 2500, then 500 to the end
        ]
        let finding = HistoryChecker(history: moveHistory(writes), topology: topology, realms: [acme: "eu"]).moves
        #expect(finding.map(\.longestGapMs) == [700])
        #expect(finding.map(\.failedWrites) == [1])
        let silent = HistoryChecker(history: moveHistory([write("0", of: "acme", on: "us-east-1", at: 500)]), topology: topology, realms: [:]).moves
        #expect(silent.map(\.longestGapMs) == [2_000], "no acknowledgement during the move: unavailable throughout")
    }

    @Test func neighboursAreTheTenantsOfTheSourceAndTargetShardsAndTheirFailuresDuringTheMoveCount() {
        let writes = [
            write("a", of: "acme", on: "us-east-1", at: 1_500, .failed),
            write("n1", of: "next-door", on: "us-east-1", at: 1_200),
            write("n2", of: "next-door", on: "us-east-1", at: 2_200, .unknown),
            write("n3", of: "next-door", on: "us-east-1", at: 3_500, .failed),   // after the move: not counted
            write("t1", of: "over-there", on: shard, at: 1_800),
            write("f1", of: "faraway", on: "eu-west-1", at: 1_800, .failed),     // another shard: not a neighbour
        ]
        let finding = HistoryChecker(history: moveHistory(writes), topology: topology, realms: [:]).moves.first
        #expect(finding?.neighbours.map(\.rawValue) == ["next-door", "over-there"])
        #expect(finding?.neighbourFailures == 1)
        #expect(finding?.neighbourAcknowledged == 2)
        #expect(finding?.neighbourErrors.count == 1 && finding?.neighbourErrors.first?.hasPrefix("next-door unknown after 10 ms") == true)
    }

    @Test func aMovedTenantsWritesAcknowledgedOnItsNewShardDoNotCountAsTheOldShardsRecovery() {
        let source = NodeID(shard: "us-east-1", zone: "us-east-a")
        let fault = DrillHistory.Fault(atMs: t0 + 1_000, action: "power-loss", zone: "us-east-a")
        let movedWrite = DrillHistory.Write(id: "m", tenant: acme, shard: "us-east-1", invokedAtMs: t0 + 1_100, completedAtMs: t0 + 1_110, outcome: .ok,
                                            acknowledgedBy: NodeID(shard: shard, zone: "eu-central-a"))
        let recovered = DrillHistory.Write(id: "r", tenant: acme, shard: "us-east-1", invokedAtMs: t0 + 1_900, completedAtMs: t0 + 2_000, outcome: .ok,
                                           acknowledgedBy: NodeID(shard: "us-east-1", zone: "us-east-b"))
        let history = DrillHistory(writes: [movedWrite, recovered], promotions: [], faults: [fault], initialPrimaries: ["us-east-1": source],
                                   finalPrimaries: ["us-east-1": NodeID(shard: "us-east-1", zone: "us-east-b")], rows: [])
        #expect(HistoryChecker(history: history, topology: topology, realms: [:]).recoveryByShard["us-east-1"] == 1_000)
    }

    @Test func theVerdictJudgesEachMoveAgainstItsExpectedEndAndTheScenariosTargets() {
        let order = Scenario.MoveOrder(tenant: acme, toRealm: "eu", toRegion: nil, expect: .done)
        let scenario = Scenario(name: "m", summary: "", topologyDirectory: "", duration: .seconds(5), tenants: [], writersPerTenant: 1,
                                writePause: .zero, faults: [Scenario.Fault(at: .seconds(1), action: .move, move: order)], rtoMax: .seconds(3), rpoMax: 0,
                                slaTier: nil, expectRefused: [], expectUnavailable: [], moveGapMax: .milliseconds(1_000), expectNeighboursUnaffected: true)
        let writes = [write("1", of: "acme", on: "us-east-1", at: 1_490), write("2", of: "acme", on: "us-east-1", at: 2_490),
                      write("n", of: "next-door", on: "us-east-1", at: 1_500)]
        func verdict(_ outcome: String) -> [String: Bool] {
            let checker = HistoryChecker(history: moveHistory(writes, outcome: outcome), topology: topology, realms: [:])
            let checks = DrillVerdict(scenario: scenario, checker: checker, refused: [], promotedOutsideRegion: [], sla: []).checks
            return Dictionary(checks.filter { $0.name.hasPrefix("move 1") }.map { ($0.name, $0.held) }, uniquingKeysWith: { a, _ in a })
        }
        #expect(verdict("purged") == ["move 1: acme to eu": true, "move 1: acme's longest write gap": true, "move 1: neighbours' writes failed": true])
        // Gaps: 1000 -> 1500 -> 2500 -> 3000: the longest is 1000 ms, exactly the limit.
        #expect(verdict("rolled-back")["move 1: acme to eu"] == false, "expected done")
    }

    @Test func aDrillWhoseFaultHitNoPrimaryOrWhoseRTOTargetFoundNothingToMeasureFails() {
        let source = NodeID(shard: "us-east-1", zone: "us-east-a")
        let fault = Scenario.Fault(at: .seconds(1), action: .powerLoss, zone: "us-east-c")
        func scenario(rto: Duration?, allowed: Bool) -> Scenario {
            Scenario(name: "v", summary: "", topologyDirectory: "", duration: .seconds(5), tenants: [], writersPerTenant: 1, writePause: .zero,
                     faults: [Scenario.Fault(at: fault.at, action: fault.action, zone: fault.zone, hitsNoPrimary: allowed)], rtoMax: rto, rpoMax: 0,
                     slaTier: nil, expectRefused: [], expectUnavailable: [])
        }
        // The zone held only standbys when the fault fired: nothing failed over.
        let injected = DrillHistory.Fault(atMs: t0 + 1_000, action: "power-loss", zone: "us-east-c", primariesHit: [])
        let history = DrillHistory(writes: [], promotions: [], faults: [injected],
                                   initialPrimaries: ["us-east-1": source], finalPrimaries: ["us-east-1": source], rows: [])
        let checker = HistoryChecker(history: history, topology: topology, realms: [:])
        func failed(_ scenario: Scenario, _ faults: [DrillHistory.Fault]) -> [String] {
            DrillVerdict(scenario: scenario, checker: checker, refused: [], promotedOutsideRegion: [], sla: [], faults: faults)
                .checks.filter { !$0.held }.map { "\($0.name): \($0.measured)" }
        }
        let vacuous = failed(scenario(rto: .seconds(3), allowed: false), [injected])
        #expect(vacuous.contains { $0.hasPrefix("RTO: nothing to measure") }, "\(vacuous)")
        #expect(vacuous.contains { $0.hasPrefix("fault 1 (power-loss us-east-c) hits a primary: none") }, "\(vacuous)")
        // Said so by the scenario, and no RTO target: nothing is missed.
        let allowedFault = DrillHistory.Fault(atMs: t0 + 1_000, action: "power-loss", zone: "us-east-c", primariesHit: [], expectsNoPrimary: true)
        #expect(failed(scenario(rto: nil, allowed: true), [allowedFault]).isEmpty)
        // A fault that hit a primary is no finding of its own.
        let hit = DrillHistory.Fault(atMs: t0 + 1_000, action: "power-loss", zone: "us-east-a", primariesHit: ["us-east-1"])
        #expect(!failed(scenario(rto: nil, allowed: false), [hit]).contains { $0.contains("hits a primary") })
    }
}
