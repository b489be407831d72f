import ResidencyCore
import ResidencySim

/// `residency simulate sla` as text and as a self-contained HTML page with an SVG histogram.
public enum SLAForecastReport {
    public static func text(_ outcome: SLASimulation.Outcome, topologyDirectory: String) -> String {
        let forecast = outcome.forecast
        var lines = [
            "simulate sla: \(outcome.runs) run(s) x \(outcome.months.count) month(s) (\(outcome.months.first ?? "")..\(outcome.months.last ?? "")) "
                + "of \(topologyDirectory): \(outcome.shards) shard(s), \(outcome.nodes) node(s), \(forecast.shardMonths) shard-months",
            "failure model: zone MTBF \(DrillReport.format(outcome.zoneMTBFHours / 24)) days, MTTR \(DrillReport.format(outcome.zoneMTTRMinutes)) min; "
                + "coordinator MTBF \(outcome.coordinatorMTBFHours > 0 ? DrillReport.format(outcome.coordinatorMTBFHours / 24) + " days" : "never")"
                + (outcome.effectScale == 1 ? "" : "; effect durations x\(DrillReport.format(outcome.effectScale, digits: 2))")
                + (outcome.calibration.map {
                    " (calibrated: real power-loss RTO median \(Int($0.realMedianMilliseconds)) ms over \($0.recoveries) shard recoveries, "
                        + "simulated \(Int($0.simulatedMedianMilliseconds)) ms)"
                } ?? ""),
            "simulated: \(outcome.zoneFaults) zone failure(s), \(outcome.coordinatorCrashes) coordinator crash(es), \(outcome.promotions) promotion(s), "
                + "\(outcome.events) events"
                + (outcome.movesPerMonth > 0
                    ? "; \(outcome.moves) residency move(s) (\(DrillReport.format(outcome.movesPerMonth)) per month): \(outcome.movesSwitched) switched, "
                        + "\(outcome.moves - outcome.movesSwitched) rolled back; a moving tenant's writes fenced median "
                        + "\(outcome.moveFreezeMedianMilliseconds.map { "\($0) ms" } ?? "-"), max \(outcome.moveFreezeMaxMilliseconds.map { "\($0) ms" } ?? "-")"
                    : ""),
            "",
            "monthly uptime of a shard (every tenant and product on it): p50 \(percent(forecast.uptimeP50Percent)), "
                + "p1 \(percent(forecast.uptimeP1Percent)), worst \(percent(forecast.uptimeWorstPercent)); "
                + "mean \(DrillReport.format(forecast.meanDowntimeMinutes, digits: 2)) downtime min/month; "
                + "\(forecast.monthsWithDowntime) of \(forecast.shardMonths) months with any downtime minute",
            "",
        ]
        var table = TextTable(header: ["tier", "target", "allowed min/30 d", "months below", "P(month below target)", "expected credit"])
        for tier in forecast.tiers {
            table.append([tier.tier.rawValue, percent(tier.targetPercent, digits: 2), DrillReport.format(tier.allowedMinutesIn30Days, digits: 1),
                       "\(tier.monthsBelowTarget)", percent(100 * tier.probabilityBelowTarget, digits: 3), percent(tier.expectedCreditPercent, digits: 4)])
        }
        lines.append(table.render())
        lines.append("")
        lines.append("downtime minutes per shard-month:")
        let peak = max(1, forecast.histogram.map(\.shardMonths).max() ?? 1)
        for bin in forecast.histogram {
            let bar = String(repeating: "#", count: bin.shardMonths == 0 ? 0 : max(1, 40 * bin.shardMonths / peak))
            lines.append("  \(bin.label.padding(12)) \(String(bin.shardMonths).leftPadding(8)) \(bar)")
        }
        if !outcome.failedSeeds.isEmpty {
            lines.append("")
            lines.append("SAFETY VIOLATIONS in \(outcome.failedSeeds.count) run(s), seeds \(outcome.failedSeeds.map(String.init).joined(separator: " ")):")
            lines += outcome.violations.map { "  " + $0 }
        }
        return lines.joined(separator: "\n")
    }

    public static func html(_ outcome: SLASimulation.Outcome, topologyDirectory: String) -> String {
        let forecast = outcome.forecast
        var page = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>SLA forecast: \(DrillReport.escape(topologyDirectory))</title>
            <style>
            body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #1d2430; }
            h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
            table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid #dde2ea; }
            th { background: #f3f5f8; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
            svg text { font: 11px system-ui, sans-serif; fill: #4a5565; } .bad { color: #b3261e; font-weight: 600; }
            </style></head><body>
            <h1>SLA forecast <code>\(DrillReport.escape(topologyDirectory))</code></h1>
            <p>\(outcome.runs) simulated run(s) × \(outcome.months.count) month(s) (\(outcome.months.first ?? "")–\(outcome.months.last ?? "")) of
            \(outcome.shards) shard(s) on \(outcome.nodes) node(s): \(forecast.shardMonths) shard-months. Zone MTBF
            \(DrillReport.format(outcome.zoneMTBFHours / 24)) days, MTTR \(DrillReport.format(outcome.zoneMTTRMinutes)) min, coordinator MTBF
            \(outcome.coordinatorMTBFHours > 0 ? DrillReport.format(outcome.coordinatorMTBFHours / 24) + " days" : "never")\(outcome.effectScale == 1 ? "" : ", effect durations ×" + DrillReport.format(outcome.effectScale, digits: 2) + " (calibrated from drills)").
            \(outcome.zoneFaults) zone failures, \(outcome.coordinatorCrashes) coordinator crashes\(outcome.movesPerMonth > 0 ? ", \(outcome.moves) residency moves (\(outcome.movesSwitched) switched)" : "") and \(outcome.promotions) promotions were simulated,
            every decision by the real coordinator.\(outcome.failedSeeds.isEmpty ? "" : " <span class=\"bad\">Safety violations in seeds \(outcome.failedSeeds.map(String.init).joined(separator: " ")).</span>")</p>
            <p>Monthly uptime of a shard (what every tenant and product on it sees): p50 \(percent(forecast.uptimeP50Percent)),
            p1 \(percent(forecast.uptimeP1Percent)), worst \(percent(forecast.uptimeWorstPercent)). A minute is downtime when more than 5 % of it was unavailable.</p>
            <h2>Per tier</h2>
            <table><tr><th>tier</th><th>target</th><th>allowed min / 30 d</th><th>months below</th><th>P(month below target)</th><th>expected credit</th></tr>

            """
        for tier in forecast.tiers {
            page += "<tr><td>\(DrillReport.escape(tier.tier.rawValue))</td><td class=\"num\">\(percent(tier.targetPercent, digits: 2))</td>"
                + "<td class=\"num\">\(DrillReport.format(tier.allowedMinutesIn30Days, digits: 1))</td><td class=\"num\">\(tier.monthsBelowTarget)</td>"
                + "<td class=\"num\">\(percent(100 * tier.probabilityBelowTarget, digits: 3))</td><td class=\"num\">\(percent(tier.expectedCreditPercent, digits: 4))</td></tr>\n"
        }
        page += "</table>\n<h2>Downtime minutes per shard-month</h2>\n" + histogram(forecast) + "</body></html>\n"
        return page
    }

    /// Bars per bin on a logarithmic count axis (most months have no downtime), with each
    /// tier's allowance in a 30-day month marked.
    static func histogram(_ forecast: SLAForecast) -> String {
        let width = 880.0, height = 320.0, left = 60.0, bottom = 40.0, top = 20.0
        let bins = forecast.histogram
        let peak = Double(max(1, bins.map(\.shardMonths).max() ?? 1))
        let decades = max(1.0, (peak.logBase10).rounded(.up))
        let slot = (width - left - 20) / Double(max(1, bins.count))
        func y(_ count: Int) -> Double {
            guard count > 0 else { return height - bottom }
            return height - bottom - (height - bottom - top) * (Double(count).logBase10 + 0.3) / (decades + 0.3)
        }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\">\n"
        var decade = 1
        for power in 0...Int(decades) {
            let line = y(decade)
            svg += "<line x1=\"\(Int(left))\" y1=\"\(DrillReport.format(line))\" x2=\"\(Int(width - 20))\" y2=\"\(DrillReport.format(line))\" stroke=\"#e3e7ee\"/>"
                + "<text x=\"4\" y=\"\(DrillReport.format(line + 4))\">\(decade)</text>\n"
            if power < Int(decades) { decade *= 10 }
        }
        for (index, bin) in bins.enumerated() {
            let x = left + Double(index) * slot + 6
            let barTop = y(bin.shardMonths)
            svg += "<rect x=\"\(DrillReport.format(x))\" y=\"\(DrillReport.format(barTop))\" width=\"\(DrillReport.format(slot - 12))\" "
                + "height=\"\(DrillReport.format(height - bottom - barTop))\" fill=\"\(bin.fromMinutes == 0 ? "#1f7a3a" : "#2f6fdf")\"/>\n"
            svg += "<text x=\"\(DrillReport.format(x))\" y=\"\(DrillReport.format(barTop - 4))\">\(bin.shardMonths)</text>"
                + "<text x=\"\(DrillReport.format(x))\" y=\"\(Int(height - bottom + 16))\">\(DrillReport.escape(bin.label))</text>\n"
        }
        for (index, tier) in forecast.tiers.enumerated() {
            // The bin holding the allowance, and where in it.
            let allowed = tier.allowedMinutesIn30Days
            guard let bin = bins.lastIndex(where: { Double($0.fromMinutes) <= allowed }) else { continue }
            let from = Double(bins[bin].fromMinutes), to = Double((bins[bin].toMinutes ?? bins[bin].fromMinutes) + 1)
            let x = left + (Double(bin) + min(1, (allowed - from) / max(1, to - from))) * slot
            svg += "<line x1=\"\(DrillReport.format(x))\" y1=\"\(Int(top))\" x2=\"\(DrillReport.format(x))\" y2=\"\(Int(height - bottom))\" stroke=\"#b3261e\" stroke-dasharray=\"4 3\"/>"
                + "<text x=\"\(DrillReport.format(x + 3))\" y=\"\(Int(top) + 12 + 14 * index)\">\(DrillReport.escape(tier.tier.rawValue)) target: \(DrillReport.format(allowed, digits: 1)) min</text>\n"
        }
        svg += "<text x=\"\(Int(left))\" y=\"\(Int(height - 4))\">downtime minutes in the month (bars: shard-months, log scale)</text></svg>\n"
        return svg
    }

    static func percent(_ value: Double, digits: Int = 4) -> String { DrillReport.format(value, digits: digits) + " %" }
}

extension Double {
    var logBase10: Double { logNatural / 2.302_585_092_994_046 }
}

private extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
    func leftPadding(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
