import ResidencyCore

/// `residency report sla`: per tenant and product, the month's downtime, uptime, target and credit.
public enum SLAReport {
    public static func text(_ results: [SLAResult]) -> String {
        var table = TextTable(header: ["TENANT", "PRODUCT", "MONTH", "DOWNTIME MIN", "UPTIME %", "TIER", "TARGET %", "MET", "CREDIT %"])
        for row in results {
            table.append([row.tenant, row.product, row.month.description, String(row.downtimeMinutes), DrillReport.format(row.uptimePercent, digits: 4),
                          row.tier.rawValue, DrillReport.format(row.targetPercent, digits: 2), row.met ? "yes" : "NO", DrillReport.format(row.creditPercent, digits: 0)])
        }
        let missed = results.filter { !$0.met }.count
        return table.render() + "\n" + (missed == 0 ? "every tenant met its target" : "\(missed) of \(results.count) missed their target")
    }

    public static func json(_ results: [SLAResult], month: CalendarMonth) -> String {
        struct Row: Encodable {
            let tenant, product, tier: String
            let downtimeMinutes: Int
            let uptimePercent, targetPercent, creditPercent: Double
            let met: Bool
            enum CodingKeys: String, CodingKey {
                case tenant, product, tier, met, downtimeMinutes = "downtime_minutes", uptimePercent = "uptime_percent"
                case targetPercent = "target_percent", creditPercent = "credit_percent"
            }
        }
        struct Document: Encodable { let version: Int; let month: String; let minutesInMonth: Int; let results: [Row]
            enum CodingKeys: String, CodingKey { case version, month, results, minutesInMonth = "minutes_in_month" } }
        return JSONDocument.render(Document(version: JSONDocument.version, month: month.description, minutesInMonth: month.minutes, results: results.map {
            Row(tenant: $0.tenant, product: $0.product, tier: $0.tier.rawValue, downtimeMinutes: $0.downtimeMinutes, uptimePercent: $0.uptimePercent,
                targetPercent: $0.targetPercent, creditPercent: $0.creditPercent, met: $0.met)
        }))
    }
}
