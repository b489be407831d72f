import ArgumentParser
import ResidencyConfig
import ResidencyCore
import ResidencyReport
import ResidencyRuntime

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Compliance reports.",
        subcommands: [SLA.self, Residency.self])

    struct SLA: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sla",
            abstract: "Monthly uptime per tenant and product, the tier's target, met or missed, and the service credit.",
            discussion: """
                --from takes a drill's result (.json, from <state>/drills/ or --report) or a \
                monitoring export (.csv) with the header timestamp,tenant,product,requests,failures \
                (ISO 8601 UTC timestamps, bucketed by minute; streamed, so its size does not matter; \
                a UTF-8 byte order mark and CRLF line ends are fine). A minute is downtime when more than \
                5 % of its requests failed; uptime = 100 % x (1 - downtime minutes / minutes in the \
                UTC month). Tiers and credit bands come from regions/topology.yaml. Bad rows are \
                reported with their line, the first 50 of them (exit 65). Exit 1 when a tenant missed its target.
                """)

        @Option(help: ArgumentHelp("A drill result (.json) or a monitoring export (.csv).", valueName: "file"))
        var from: String
        @Option(help: ArgumentHelp("The UTC calendar month, YYYY-MM.", valueName: "YYYY-MM"))
        var month: String
        @Option(help: "The service tier to judge against (see service_levels in regions/topology.yaml).")
        var tier: String = "premium"
        @OptionGroup var topology: TopologyOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            guard let calendarMonth = CalendarMonth(parsing: month) else {
                throw Failure(message: "invalid --month '\(month)': use YYYY-MM, like 2026-11", exitCode: Failure.invalidInput)
            }
            let levels = try TopologyLoader.load(directory: topology.topology).serviceLevels
            guard let chosen = levels.tier(TierID(tier)) else {
                throw Failure(message: "unknown tier '\(tier)' (tiers: \(levels.tiers.map(\.id.rawValue).joined(separator: ", ")))", exitCode: Failure.invalidInput)
            }
            let downtime = try MonitoringExport.downtimeMinutes(file: from, month: calendarMonth)
            let results = downtime.keys.sorted().map { key in
                SLAResult(tenant: key.tenant, product: key.product, month: calendarMonth, downtimeMinutes: downtime[key] ?? 0, tier: chosen)
            }
            Terminal.output(output.json ? SLAReport.json(results, month: calendarMonth) : SLAReport.text(results))
            if results.contains(where: { !$0.met }) { throw ExitCode(Failure.checkFailed) }
        }
    }

    struct Residency: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "residency",
            abstract: "Where every copy of every tenant's rows lives (every node, primaries and standbys), against its pin.",
            discussion: """
            Counts each tenant's rows per schema on every node. A copy outside the tenant's realm is flagged unless it is the frozen source copy of a switched move within its retention (shown with its deletion date), the data of an app that is not residency-eligible, or the target copy of a move still running. A node that cannot be reached is reported as not checked. Then lists the vault objects holding each tenant's data (base backups, WAL archives, rows a tenant restore replaced) by region: one outside the tenant's realm is flagged unless it predates a switched move away from that shard (kept, write once, until its retain-until). Exit 1 when anything is flagged or not checked.
            """)

        @Option(name: .customLong("key-file"), help: ArgumentHelp("A vault key of your own instead of the regions' (to read backup manifests).", valueName: "file"))
        var keyFile: String?
        @OptionGroup var state: StateOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let layout = try state.directory.requireLayout()
            let control = try ControlStore(layout: layout)
            let topology = try control.requireTopology()
            let census = try RowCensus.take(layout: layout, control: control, topology: topology)
            let tenants = try control.tenants()
            let moves = try control.moves()
            let findings = ResidencyAudit.findings(
                holdings: census.holdings, tenants: tenants, moves: moves, topology: topology, now: try control.nowISO8601())
            let vault = ResidencyAudit.vaultFindings(
                holdings: try VaultCensus.take(service: try BackupService(state: state.directory, keyFile: keyFile), tenants: tenants, moves: moves),
                tenants: tenants, moves: moves, topology: topology)
            Terminal.output(output.json
                ? ResidencyReport.json(findings, unreachable: census.unreachable, vault: vault)
                : ResidencyReport.text(findings, unreachable: census.unreachable, vault: vault))
            if findings.contains(where: \.status.flagged) || vault.contains(where: \.status.flagged) || !census.unreachable.isEmpty {
                throw ExitCode(Failure.checkFailed)
            }
        }
    }
}
