import ResidencyCore

/// `residency drill`: the verdict as text, Markdown, JSON (the result document, also kept
/// in the state directory) or self-contained HTML with an SVG timeline.
public enum DrillReport {
    public static func text(_ result: DrillResult) -> String {
        var lines = ["drill \(result.scenario.name): \(result.verdict.passed ? "PASSED" : "FAILED") in \(format(result.wallSeconds)) s"]
        lines.append("writes: \(result.writes.ok) acknowledged, \(result.writes.failed) failed, \(result.writes.unknown) unknown")
        var table = TextTable(header: ["CHECK", "EXPECTED", "MEASURED", ""])
        for check in result.verdict.checks { table.append([check.name, check.expected, check.measured, check.held ? "ok" : "MISSED"]) }
        lines.append(table.render())
        if !result.checker.moves.isEmpty {
            var moves = TextTable(header: ["MOVE", "TENANT", "FROM", "TO", "OUTCOME", "FREEZE MS", "LONGEST WRITE GAP MS", "NEIGHBOUR FAILURES"])
            for finding in result.checker.moves {
                let move = finding.move
                moves.append([move.id.map(String.init) ?? "-", move.tenant.rawValue, move.fromShard?.rawValue ?? "-", move.toShard?.rawValue ?? "-",
                              move.outcome, move.freezeMs.map(String.init) ?? "-", String(finding.longestGapMs), String(finding.neighbourFailures)])
            }
            lines.append(moves.render())
        }
        if !result.sla.isEmpty {
            var sla = TextTable(header: ["TENANT", "MONTH", "DOWNTIME MIN", "UPTIME %", "TIER", "TARGET %", "MET", "CREDIT %"])
            for row in result.sla {
                sla.append([row.tenant, row.month.description, String(row.downtimeMinutes), format(row.uptimePercent, digits: 4), row.tier.rawValue,
                            format(row.targetPercent, digits: 2), row.met ? "yes" : "NO", format(row.creditPercent, digits: 0)])
            }
            lines.append(sla.render())
        }
        return lines.joined(separator: "\n")
    }

    public static func markdown(_ result: DrillResult) -> String {
        var text = """
            # Drill `\(result.scenario.name)`: \(result.verdict.passed ? "passed" : "**failed**")

            \(result.scenario.summary)

            Wall time \(format(result.wallSeconds)) s; writes: \(result.writes.ok) acknowledged, \(result.writes.failed) failed, \(result.writes.unknown) unknown.

            | check | expected | measured | |
            |---|---|---|---|

            """
        for check in result.verdict.checks { text += "| \(check.name) | \(check.expected) | \(check.measured) | \(check.held ? "ok" : "**missed**") |\n" }
        text += "\n## Faults\n\n"
        for fault in result.history.faults { text += "- t+\(format(Double(fault.atMs - result.startedAtMs) / 1000)) s: \(fault.action)\(fault.zone.map { " \($0)" } ?? "")\n" }
        for promotion in result.history.promotions { text += "- t+\(format(Double(promotion.atMs - result.startedAtMs) / 1000)) s: \(promotion.node) promoted\n" }
        if !result.checker.moves.isEmpty {
            text += "\n## Moves\n\n| move | tenant | from | to | started | ended | outcome | freeze ms | longest write gap ms | neighbour failures |\n|---|---|---|---|---|---|---|---|---|---|\n"
            for finding in result.checker.moves {
                let move = finding.move
                let outcome = move.outcome + (move.switched || move.reason.isEmpty ? "" : ": \(move.reason)")
                text += "| \(move.id.map(String.init) ?? "-") | \(move.tenant) | \(move.fromShard?.rawValue ?? "-") | \(move.toShard?.rawValue ?? "-") "
                    + "| t+\(format(Double(move.startedAtMs - result.startedAtMs) / 1000)) s | t+\(format(Double(move.endedAtMs - result.startedAtMs) / 1000)) s "
                    + "| \(outcome) | \(move.freezeMs.map(String.init) ?? "-") | \(finding.longestGapMs) | \(finding.neighbourFailures) |\n"
            }
        }
        if !result.sla.isEmpty {
            text += "\n## SLA (this drill's downtime in its month)\n\n| tenant | month | downtime minutes | uptime % | tier | target % | met | credit % |\n|---|---|---|---|---|---|---|---|\n"
            for row in result.sla {
                text += "| \(row.tenant) | \(row.month) | \(row.downtimeMinutes) | \(format(row.uptimePercent, digits: 4)) | \(row.tier) | \(format(row.targetPercent, digits: 2)) | \(row.met ? "yes" : "no") | \(format(row.creditPercent, digits: 0)) |\n"
            }
        }
        return text
    }

    public static func json(_ result: DrillResult) -> String {
        JSONDocument.render(Document(result))
    }

    /// The result document (`--json`, `--report x.json`, the copy in the state directory).
    struct Document: Encodable {
        struct Check: Encodable { let name, expected, measured: String; let held: Bool }
        struct Recovery: Encodable { let shard: String; let rtoMs: Int64?; enum CodingKeys: String, CodingKey { case shard, rtoMs = "rto_ms" } }
        struct Fault: Encodable { let atMs: Int64; let action: String; let zone: String?; enum CodingKeys: String, CodingKey { case atMs = "at_ms", action, zone } }
        struct Promotion: Encodable { let atMs: Int64; let node: String; enum CodingKeys: String, CodingKey { case atMs = "at_ms", node } }
        struct SLA: Encodable {
            let tenant, product, month, tier: String
            let downtimeMinutes: Int
            let uptimePercent, targetPercent, creditPercent: Double
            let met: Bool
            enum CodingKeys: String, CodingKey {
                case tenant, product, month, tier, met, downtimeMinutes = "downtime_minutes", uptimePercent = "uptime_percent"
                case targetPercent = "target_percent", creditPercent = "credit_percent"
            }
        }
        struct Minute: Encodable { let tenant: String; let minute: Int64; let requests, failures: Int; let downtime: Bool }
        struct Move: Encodable {
            let id: Int64?
            let tenant: String
            let from, to: String?
            let toRealm, outcome, reason: String
            let startedAtMs, endedAtMs, longestWriteGapMs: Int64
            let freezeMs, catchUpMs: Int64?
            let failedWrites, neighbourFailures, neighbourAcknowledged: Int
            let neighbours, neighbourErrors: [String]
            enum CodingKeys: String, CodingKey {
                case id, tenant, from, to, outcome, reason, neighbours, toRealm = "to_realm", startedAtMs = "started_at_ms", endedAtMs = "ended_at_ms"
                case longestWriteGapMs = "longest_write_gap_ms", freezeMs = "freeze_ms", catchUpMs = "catch_up_ms", failedWrites = "failed_writes"
                case neighbourFailures = "neighbour_failures", neighbourAcknowledged = "neighbour_acknowledged", neighbourErrors = "neighbour_errors"
            }
        }

        let version = JSONDocument.version
        let scenario: String
        let passed: Bool
        let startedAtMs, finishedAtMs: Int64
        let wallSeconds: Double
        let acknowledged, failed, unknown: Int
        let lostAcknowledged: Int
        let lost: [String]
        let duplicates: [String]
        let staleAcknowledgements: Int
        let staleLost: Int
        let residencyViolations: Int
        let recovery: [Recovery]
        let checks: [Check]
        let faults: [Fault]
        let promotions: [Promotion]
        let sla: [SLA]
        let minutes: [Minute]
        let moves: [Move]
        let acknowledgedPerSecond: [String: [Int]]

        enum CodingKeys: String, CodingKey {
            case version, scenario, passed, acknowledged, failed, unknown, lost, duplicates, recovery, checks, faults, promotions, sla, minutes, moves
            case startedAtMs = "started_at_ms", finishedAtMs = "finished_at_ms", wallSeconds = "wall_seconds", lostAcknowledged = "lost_acknowledged"
            case staleAcknowledgements = "stale_acknowledgements", staleLost = "stale_acknowledgements_lost"
            case residencyViolations = "residency_violations", acknowledgedPerSecond = "acknowledged_per_second"
        }

        init(_ result: DrillResult) {
            scenario = result.scenario.name
            passed = result.verdict.passed
            startedAtMs = result.startedAtMs
            finishedAtMs = result.finishedAtMs
            wallSeconds = result.wallSeconds
            (acknowledged, failed, unknown) = result.writes
            lostAcknowledged = result.checker.lostAcknowledged
            lost = result.checker.lostWrites.map(\.id)
            duplicates = result.checker.duplicates
            staleAcknowledgements = result.checker.staleAcknowledgements.count
            staleLost = result.checker.staleAcknowledgements.filter { !$0.survived }.count
            residencyViolations = result.checker.residencyViolations.count
            recovery = result.checker.recoveryByShard.sorted { $0.key < $1.key }.map { Recovery(shard: $0.key.rawValue, rtoMs: $0.value) }
            checks = result.verdict.checks.map { Check(name: $0.name, expected: $0.expected, measured: $0.measured, held: $0.held) }
            faults = result.history.faults.map { Fault(atMs: $0.atMs, action: $0.action, zone: $0.zone?.rawValue) }
            promotions = result.history.promotions.map { Promotion(atMs: $0.atMs, node: $0.node.description) }
            sla = result.sla.map { SLA(tenant: $0.tenant, product: $0.product, month: $0.month.description, tier: $0.tier.rawValue,
                                       downtimeMinutes: $0.downtimeMinutes, uptimePercent: $0.uptimePercent, targetPercent: $0.targetPercent,
                                       creditPercent: $0.creditPercent, met: $0.met) }
            minutes = result.checker.minutesByTenant.sorted { $0.key < $1.key }.flatMap { tenant, samples in
                samples.map { Minute(tenant: tenant.rawValue, minute: $0.minute, requests: $0.requests, failures: $0.failures, downtime: $0.isDowntime) }
            }
            moves = result.checker.moves.map { finding in
                let move = finding.move
                return Move(id: move.id, tenant: move.tenant.rawValue, from: move.fromShard?.rawValue, to: move.toShard?.rawValue, toRealm: move.toRealm.rawValue,
                            outcome: move.outcome, reason: move.reason, startedAtMs: move.startedAtMs, endedAtMs: move.endedAtMs,
                            longestWriteGapMs: finding.longestGapMs, freezeMs: move.freezeMs, catchUpMs: move.catchUpMs, failedWrites: finding.failedWrites,
                            neighbourFailures: finding.neighbourFailures, neighbourAcknowledged: finding.neighbourAcknowledged,
                            neighbours: finding.neighbours.map(\.rawValue), neighbourErrors: finding.neighbourErrors)
            }
            acknowledgedPerSecond = Dictionary(result.acknowledgedPerSecond.map { ($0.key.rawValue, $0.value) }, uniquingKeysWith: { a, _ in a })
        }
    }

    static func format(_ value: Double, digits: Int = 1) -> String {
        guard value.isFinite else { return "-" }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let rounded = (value * scale).rounded() / scale
        var text = "\(rounded)"
        if digits == 0, text.hasSuffix(".0") { text.removeLast(2) }
        return text
    }
}
