import ResidencyCore

/// Writes a `Scenario` as `simulations/*.yaml` text that `ScenarioLoader` reads back to the
/// same scenario (`residency chaos` keeps every round it draws this way, so `residency
/// drill FILE` replays it). Names are identifiers (checked when they were made); the one
/// free text, the description, is written double-quoted and escaped.
public enum ScenarioWriter {
    public static func yaml(_ scenario: Scenario, comment: String? = nil) -> String {
        var lines: [String] = []
        if let comment { lines += comment.split(separator: "\n", omittingEmptySubsequences: false).map { "# \($0)" } }
        lines.append("name: \(scenario.name)")
        lines.append("description: \(quoted(scenario.summary))")
        lines.append("topology: \(quoted(scenario.topologyDirectory))")
        lines.append("duration_s: \(seconds(scenario.duration))")
        lines.append("tenants:")
        for tenant in scenario.tenants {
            lines.append("  - name: \(tenant.name)")
            lines.append("    realm: \(tenant.realm)")
            if let region = tenant.region { lines.append("    region: \(region)") }
            if tenant.seedRows > 0 { lines.append("    seed_rows: \(tenant.seedRows)") }
        }
        lines.append("workload:")
        lines.append("  writers_per_tenant: \(scenario.writersPerTenant)")
        lines.append("  pause_ms: \(milliseconds(scenario.writePause))")
        if !scenario.faults.isEmpty { lines.append("faults:") }
        for fault in scenario.faults {
            var entries: [String] = []
            if fault.atMovePhase == nil || fault.at > .zero { entries.append("at_s: \(seconds(fault.at))") }
            if let phase = fault.atMovePhase { entries.append("at_move_phase: \(phase.rawValue)") }
            entries.append("action: \(fault.action.rawValue)")
            if let zone = fault.zone { entries.append("zone: \(zone)") }
            if let shard = fault.primaryOf { entries.append("primary_of: \(shard)") }
            if let step = fault.step { entries.append("step: \(step.rawValue)") }
            if fault.move == nil, let tenant = fault.tenant { entries.append("tenant: \(tenant)") }
            if let move = fault.move {
                entries.append("tenant: \(move.tenant)")
                entries.append("to: \(move.toRealm)")
                if let region = move.toRegion { entries.append("region: \(region)") }
                entries.append("expect: \(move.expect.rawValue)")
            }
            if fault.hitsNoPrimary { entries.append("hits_no_primary: true") }
            lines.append("  - " + entries[0])
            lines += entries.dropFirst().map { "    " + $0 }
        }
        lines.append("targets:")
        if let rto = scenario.rtoMax { lines.append("  rto_max_s: \(seconds(rto))") }
        lines.append("  rpo_max: \(scenario.rpoMax)")
        if let tier = scenario.slaTier { lines.append("  sla_tier: \(tier)") }
        if let gap = scenario.moveGapMax { lines.append("  move_gap_max_ms: \(milliseconds(gap))") }
        if !scenario.expectRefused.isEmpty || !scenario.expectUnavailable.isEmpty || scenario.expectNeighboursUnaffected {
            lines.append("expect:")
            if !scenario.expectRefused.isEmpty { lines.append("  promotion_refused: [\(scenario.expectRefused.map(\.rawValue).joined(separator: ", "))]") }
            if !scenario.expectUnavailable.isEmpty { lines.append("  unavailable: [\(scenario.expectUnavailable.map(\.rawValue).joined(separator: ", "))]") }
            if scenario.expectNeighboursUnaffected { lines.append("  neighbours_unaffected: true") }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A YAML double-quoted scalar: backslash, quote and control characters escaped.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += "\\x" + String(scalar.value, radix: 16).leftPadded(to: 2)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    private static func seconds(_ duration: Duration) -> Int64 { duration.components.seconds }
    private static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000 + duration.components.attoseconds / 1_000_000_000_000_000
    }
}

private extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
