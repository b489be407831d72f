/// A drill's targets and expectations, each judged against what the checker found.
public struct DrillVerdict: Hashable, Sendable {
    public struct Check: Hashable, Sendable {
        public let name: String
        public let expected: String
        public let measured: String
        public let held: Bool
    }

    public let checks: [Check]
    public var passed: Bool { checks.allSatisfy(\.held) }

    /// - Parameters:
    ///   - refused: shards whose failover the coordinator refused during the drill.
    ///   - promotedOutsideRegion: promotions of a node outside its shard's region (must be none).
    ///   - faults: the faults as injected, with the primaries each zone fault hit.
    public init(scenario: Scenario, checker: HistoryChecker, refused: Set<ShardID>, promotedOutsideRegion: [NodeID], sla: [SLAResult],
                faults: [DrillHistory.Fault] = []) {
        var checks: [Check] = []
        let lost = checker.lostAcknowledged
        checks.append(Check(name: "RPO (acknowledged writes lost)", expected: "<= \(scenario.rpoMax)", measured: "\(lost)", held: lost <= scenario.rpoMax))
        let limitMs = scenario.rtoMax.map { $0.components.seconds * 1000 }
        let measured = checker.recoveryByShard.sorted(by: { $0.key < $1.key }).filter { !scenario.expectUnavailable.contains($0.key) }
        for (shard, recovery) in measured {
            checks.append(Check(
                name: "RTO \(shard)", expected: limitMs.map { "<= \($0) ms" } ?? "recovers (no RTO target)",
                measured: recovery.map { "\($0) ms" } ?? "never recovered", held: recovery.map { $0 <= (limitMs ?? .max) } ?? false))
        }
        // A drill must not pass vacuously: a target with nothing to measure fails it.
        if let limitMs, measured.isEmpty, scenario.expectUnavailable.isEmpty, scenario.expectRefused.isEmpty {
            checks.append(Check(name: "RTO", expected: "<= \(limitMs) ms", measured: "nothing to measure: no fault hit a shard's primary", held: false))
        }
        for (index, fault) in faults.enumerated() {
            guard let hit = fault.primariesHit else { continue }
            let what = "fault \(index + 1) (\(fault.action)\(fault.zone.map { " \($0)" } ?? ""))"
            if fault.expectsNoPrimary {
                if hit.isEmpty {
                    checks.append(Check(name: "\(what) hit no primary", expected: "allowed (hits_no_primary)", measured: "no primary", held: true))
                }
            } else if hit.isEmpty {
                checks.append(Check(name: "\(what) hits a primary", expected: "at least one primary",
                                    measured: "none: no shard's primary was there (say `hits_no_primary: true` if that is the point)", held: false))
            }
        }
        for shard in scenario.expectUnavailable {
            let recovered = checker.recoveryByShard[shard].map { $0 != nil } ?? false
            checks.append(Check(name: "\(shard) stays without a promoted primary", expected: "no failover", measured: recovered ? "writes resumed" : "down", held: !recovered))
        }
        for shard in scenario.expectRefused {
            checks.append(Check(name: "promotion of \(shard) refused", expected: "refused", measured: refused.contains(shard) ? "refused" : "not refused",
                                held: refused.contains(shard)))
        }
        checks.append(Check(name: "promotions outside the region", expected: "0", measured: "\(promotedOutsideRegion.count)", held: promotedOutsideRegion.isEmpty))
        checks.append(Check(name: "residency violations", expected: "0", measured: "\(checker.residencyViolations.count)", held: checker.residencyViolations.isEmpty))
        checks.append(Check(name: "duplicates", expected: "0", measured: "\(checker.duplicates.count)", held: checker.duplicates.isEmpty))
        let staleLost = checker.staleAcknowledgements.filter { !$0.survived }.count
        checks.append(Check(name: "stale-primary acknowledgements lost", expected: "0", measured: "\(staleLost) of \(checker.staleAcknowledgements.count)", held: staleLost == 0))
        let orders = scenario.faults.compactMap(\.move)
        for (index, finding) in checker.moves.enumerated() {
            let move = finding.move
            let expected = index < orders.count ? orders[index].expect : .done
            let measured = move.switched ? "done (\(move.fromShard.map(\.rawValue) ?? "?") -> \(move.toShard.map(\.rawValue) ?? "?"))"
                : move.outcome + (move.reason.isEmpty ? "" : ": \(move.reason)")
            let rolledBack = move.outcome == MovePhase.rolledBack.rawValue
            let held = switch expected {
            case .done: move.switched
            case .rolledBack: rolledBack
            case .ended: move.switched || rolledBack
            }
            checks.append(Check(name: "move \(index + 1): \(move.tenant) to \(move.toRealm)", expected: expected.rawValue, measured: measured, held: held))
            if let limit = scenario.moveGapMax, move.switched {
                let limitMs = limit.inMilliseconds
                checks.append(Check(name: "move \(index + 1): \(move.tenant)'s longest write gap", expected: "<= \(limitMs) ms",
                                    measured: "\(finding.longestGapMs) ms (\(finding.failedWrites) attempts refused or failed)",
                                    held: finding.longestGapMs <= limitMs))
            }
            if scenario.expectNeighboursUnaffected {
                checks.append(Check(
                    name: "move \(index + 1): neighbours' writes failed", expected: "0",
                    measured: "\(finding.neighbourFailures) of \(finding.neighbourFailures + finding.neighbourAcknowledged) (\(finding.neighbours.map(\.rawValue).joined(separator: ", ")))"
                        + finding.neighbourErrors.map { "; \($0)" }.joined(),
                    held: finding.neighbourFailures == 0 && !finding.neighbours.isEmpty))
            }
        }
        if checker.moves.count < orders.count {
            checks.append(Check(name: "moves run", expected: "\(orders.count)", measured: "\(checker.moves.count)", held: false))
        }
        let restoreOrders = scenario.faults.filter { $0.action == .restoreTenant }
        for (index, finding) in checker.restores.enumerated() {
            let name = "restore \(index + 1): \(finding.restore.tenant)"
            if let error = finding.restore.error {
                checks.append(Check(name: "\(name) ran", expected: "restored", measured: "failed: \(error)", held: false))
                continue
            }
            checks.append(Check(name: "\(name): writes acknowledged before the target are back", expected: "all",
                                measured: "\(finding.acknowledgedBefore) back, \(finding.missingBefore.count) missing", held: finding.missingBefore.isEmpty && finding.acknowledgedBefore > 0))
            checks.append(Check(name: "\(name): writes begun after the target are gone", expected: "none back",
                                measured: "\(finding.undone) gone, \(finding.resurrected.count) back", held: finding.resurrected.isEmpty))
        }
        if checker.restores.count < restoreOrders.count {
            checks.append(Check(name: "tenant restores run", expected: "\(restoreOrders.count)", measured: "\(checker.restores.count)", held: false))
        }
        if !restoreOrders.isEmpty {
            let changed = checker.unexplainedRowChanges.filter { $0.value != 0 }.sorted { $0.key < $1.key }
            checks.append(Check(name: "other tenants' rows", expected: "no row lost or gained beyond their own writes",
                                measured: changed.isEmpty ? "unchanged (\(checker.unexplainedRowChanges.count) tenants)"
                                    : changed.map { "\($0.key) \($0.value > 0 ? "+" : "")\($0.value)" }.joined(separator: ", "),
                                held: changed.isEmpty && !checker.unexplainedRowChanges.isEmpty))
        }
        for missed in checker.missedFaults {
            checks.append(Check(name: "fault injected: \(missed)", expected: "injected", measured: "its move phase never came", held: false))
        }
        if scenario.slaTier != nil {
            let missed = sla.filter { !$0.met }
            checks.append(Check(name: "SLA (\(scenario.slaTier!) monthly uptime, this drill's downtime)",
                                expected: "met by every tenant", measured: missed.isEmpty ? "met" : "missed by \(missed.map(\.tenant).joined(separator: ", "))",
                                held: missed.isEmpty))
        }
        self.checks = checks
    }
}
