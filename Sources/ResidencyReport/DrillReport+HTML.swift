import ResidencyCore

extension DrillReport {
    /// A self-contained page: verdict, checks, an SVG timeline (acknowledged writes per
    /// second per shard, fault and promotion markers) and the SLA table. No scripts, no
    /// external resources.
    public static func html(_ result: DrillResult) -> String {
        let passed = result.verdict.passed
        var page = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>Drill \(escape(result.scenario.name))</title>
            <style>
            body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #1d2430; }
            h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
            .verdict { display: inline-block; padding: .15rem .6rem; border-radius: .3rem; color: #fff; background: \(passed ? "#1f7a3a" : "#b3261e"); }
            table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid #dde2ea; }
            th { background: #f3f5f8; } td.missed { color: #b3261e; font-weight: 600; } td.ok { color: #1f7a3a; }
            .legend span { margin-right: 1.2rem; } svg text { font: 11px system-ui, sans-serif; fill: #4a5565; }
            </style></head><body>
            <h1>Drill <code>\(escape(result.scenario.name))</code> <span class="verdict">\(passed ? "passed" : "failed")</span></h1>
            <p>\(escape(result.scenario.summary))</p>
            <p>Wall time \(format(result.wallSeconds)) s · writes: \(result.writes.ok) acknowledged, \(result.writes.failed) failed,
            \(result.writes.unknown) unknown · RPO \(result.checker.lostAcknowledged) · worst RTO \(result.checker.worstRecoveryMs.map { "\($0) ms" } ?? "–")</p>
            <h2>Acknowledged writes per second</h2>
            \(timeline(result))
            <h2>Checks</h2>
            <table><tr><th>check</th><th>expected</th><th>measured</th><th></th></tr>

            """
        for check in result.verdict.checks {
            page += "<tr><td>\(escape(check.name))</td><td>\(escape(check.expected))</td><td>\(escape(check.measured))</td>"
                + "<td class=\"\(check.held ? "ok" : "missed")\">\(check.held ? "ok" : "missed")</td></tr>\n"
        }
        page += "</table>\n"
        if !result.checker.moves.isEmpty {
            page += "<h2>Moves</h2>\n<table><tr><th>move</th><th>tenant</th><th>from</th><th>to</th><th>outcome</th><th>freeze ms</th><th>longest write gap ms</th><th>neighbour failures</th></tr>\n"
            for finding in result.checker.moves {
                let move = finding.move
                let outcome = move.outcome + (move.switched || move.reason.isEmpty ? "" : ": \(move.reason)")
                page += "<tr><td>\(move.id.map(String.init) ?? "–")</td><td>\(escape(move.tenant.rawValue))</td><td>\(escape(move.fromShard?.rawValue ?? "–"))</td>"
                    + "<td>\(escape(move.toShard?.rawValue ?? "–"))</td><td>\(escape(outcome))</td><td>\(move.freezeMs.map(String.init) ?? "–")</td>"
                    + "<td>\(finding.longestGapMs)</td><td>\(finding.neighbourFailures)</td></tr>\n"
            }
            page += "</table>\n"
        }
        if !result.sla.isEmpty {
            page += "<h2>SLA: this drill's downtime in its month</h2>\n<table><tr><th>tenant</th><th>month</th><th>downtime minutes</th><th>uptime %</th><th>tier</th><th>target %</th><th>met</th><th>credit %</th></tr>\n"
            for row in result.sla {
                page += "<tr><td>\(escape(row.tenant))</td><td>\(row.month)</td><td>\(row.downtimeMinutes)</td><td>\(format(row.uptimePercent, digits: 4))</td>"
                    + "<td>\(escape(row.tier.rawValue))</td><td>\(format(row.targetPercent, digits: 2))</td>"
                    + "<td class=\"\(row.met ? "ok" : "missed")\">\(row.met ? "yes" : "no")</td><td>\(format(row.creditPercent, digits: 0))</td></tr>\n"
            }
            page += "</table>\n"
        }
        page += "</body></html>\n"
        return page
    }

    static func timeline(_ result: DrillResult) -> String {
        let shards = result.acknowledgedPerSecond.keys.sorted()
        let seconds = max(1, result.acknowledgedPerSecond.values.map(\.count).max() ?? 1)
        let width = 880.0, rowHeight = 70.0, left = 110.0, right = 20.0
        let height = rowHeight * Double(max(shards.count, 1)) + 30
        let peak = Double(max(1, result.acknowledgedPerSecond.values.flatMap { $0 }.max() ?? 1))
        func x(_ second: Double) -> Double { left + (width - left - right) * second / Double(seconds) }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\">\n"
        for (index, shard) in shards.enumerated() {
            let top = Double(index) * rowHeight + 10
            let counts = result.acknowledgedPerSecond[shard] ?? []
            let points = counts.enumerated().map { second, count in
                "\(format(x(Double(second) + 0.5), digits: 1)),\(format(top + rowHeight - 15 - (rowHeight - 25) * Double(count) / peak, digits: 1))"
            }.joined(separator: " ")
            svg += "<text x=\"4\" y=\"\(Int(top + rowHeight / 2))\">\(escape(shard.rawValue))</text>\n"
            svg += "<line x1=\"\(Int(left))\" y1=\"\(Int(top + rowHeight - 15))\" x2=\"\(Int(width - right))\" y2=\"\(Int(top + rowHeight - 15))\" stroke=\"#c9d1dc\"/>\n"
            svg += "<polyline fill=\"none\" stroke=\"#2f6fdf\" stroke-width=\"2\" points=\"\(points)\"/>\n"
        }
        for move in result.history.moves {
            let start = x(Double(move.startedAtMs - result.startedAtMs) / 1000)
            let end = x(Double(move.endedAtMs - result.startedAtMs) / 1000)
            svg += "<rect x=\"\(format(start))\" y=\"5\" width=\"\(format(max(end - start, 1)))\" height=\"\(Int(height - 25))\" fill=\"#e8a33d\" fill-opacity=\"0.15\"/>\n"
            svg += "<text x=\"\(format(start + 3))\" y=\"26\">move \(escape(move.tenant.rawValue)): \(escape(move.outcome))</text>\n"
        }
        for fault in result.history.faults where fault.action != Scenario.Action.move.rawValue {
            let position = x(Double(fault.atMs - result.startedAtMs) / 1000)
            svg += "<line x1=\"\(format(position))\" y1=\"5\" x2=\"\(format(position))\" y2=\"\(Int(height - 20))\" stroke=\"#b3261e\" stroke-dasharray=\"4 3\"/>\n"
            svg += "<text x=\"\(format(position + 3))\" y=\"\(Int(height - 6))\">\(escape(fault.action))\(fault.zone.map { " " + escape($0.rawValue) } ?? "")</text>\n"
        }
        for promotion in result.history.promotions {
            let position = x(Double(promotion.atMs - result.startedAtMs) / 1000)
            svg += "<line x1=\"\(format(position))\" y1=\"5\" x2=\"\(format(position))\" y2=\"\(Int(height - 20))\" stroke=\"#1f7a3a\"/>\n"
            svg += "<text x=\"\(format(position + 3))\" y=\"14\">promoted \(escape(promotion.node.zone.rawValue))</text>\n"
        }
        svg += "</svg>\n<p class=\"legend\"><span style=\"color:#2f6fdf\">— acknowledged writes/s (peak \(Int(peak)))</span><span style=\"color:#b3261e\">┆ fault</span><span style=\"color:#1f7a3a\">| promotion</span>"
            + (result.history.moves.isEmpty ? "" : "<span style=\"color:#e8a33d\">▮ move</span>") + " · \(seconds) s</p>"
        return svg
    }

    static func escape(_ text: String) -> String {
        text.replacing("&", with: "&amp;").replacing("<", with: "&lt;").replacing(">", with: "&gt;").replacing("\"", with: "&quot;")
    }
}
