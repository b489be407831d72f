import ArgumentParser
import Foundation
import ResidencyCore
import ResidencyReport
import ResidencyRuntime

struct RebalanceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebalance",
        abstract: "Spread primaries evenly over each region's zones again, with planned switchovers.",
        discussion: """
            After failovers, primaries pile up in the zones that survived, and the next zone \
            loss hits more shards than it should. rebalance plans the fewest switchovers that \
            leave no zone with more than one primary more than another, then runs them one \
            shard at a time through the coordinator (a switchover loses no acknowledged write; \
            writes of that shard pause for the swap only). It refuses while any shard of the \
            region has a failover or switchover in progress, before and between switchovers, \
            and moves only healthy shards. `residency status` shows the spread.

            Exit 0 when the spread is even (or the dry run planned), 1 when refused, 2 when a \
            switchover could not be done, 65 for an unknown region.
            """)

    @Option(help: "Only this region (default: every region).")
    var region: String?
    @Flag(help: "Print the plan; switch nothing over.")
    var dryRun = false
    @Option(help: "Seconds to wait for each switchover.")
    var timeout: Double = 60
    @OptionGroup var state: StateOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let layout = try state.directory.requireLayout()
        let control = try ControlStore(layout: layout)
        let topology = try control.requireTopology()
        var regions = topology.regions
        if let region {
            guard let chosen = topology.region(RegionID(region)) else {
                throw Failure(message: "unknown region '\(region)' (regions: \(topology.regions.map(\.id.rawValue).joined(separator: ", ")))",
                              exitCode: Failure.invalidInput)
            }
            regions = [chosen]
        }
        // One look at every node and at the open operations serves every region's plan.
        let status = try StatusCollector(control: control, data: DataNodes(layout: layout)).collect()
        let open = Set(try control.openOperations().map(\.shard))
        let plans = regions.map { region in (region, plan(region, status: status, open: open)) }
        var document = RebalanceDocument(version: JSONDocument.version, dryRun: dryRun, regions: [])
        var refusal: String?
        for (region, result) in plans {
            switch result {
            case let .success(moves):
                document.regions.append(.init(region: region.id.rawValue, refused: nil, switchovers: moves.map {
                    .init(shard: $0.shard.rawValue, from: $0.from.rawValue, to: $0.to.rawValue, state: dryRun ? "planned" : "pending")
                }))
            case let .failure(why):
                refusal = refusal ?? "\(region.id): \(why)"
                document.regions.append(.init(region: region.id.rawValue, refused: why.description, switchovers: []))
            }
        }
        if refusal == nil, !dryRun {
            run: for regionIndex in document.regions.indices {
                for index in document.regions[regionIndex].switchovers.indices {
                    let move = document.regions[regionIndex].switchovers[index]
                    let region = RegionID(document.regions[regionIndex].region)
                    // Never during a failover: checked again before every switchover.
                    if let busy = try control.openOperations().first(where: { topology.shard($0.shard)?.region == region }) {
                        refusal = "\(region): \(PrimarySpread.Refusal.operationInProgress(busy.shard))"
                        document.regions[regionIndex].refused = refusal
                        break run
                    }
                    if !output.json { Terminal.progressLine("switching \(move.shard) over: \(move.from) -> \(move.to)") }
                    do {
                        _ = try OperatorRequest.submitAndWait(kind: "switchover", shard: ShardID(move.shard), zone: ZoneID(move.to),
                                                              control: control, timeoutSeconds: timeout)
                        document.regions[regionIndex].switchovers[index].state = "done"
                    } catch let failure as Failure {
                        document.regions[regionIndex].switchovers[index].state = failure.exitCode == Failure.checkFailed ? "refused" : "failed"
                        if output.json { Terminal.output(JSONDocument.render(document)) }
                        throw failure
                    }
                }
            }
        }
        if output.json {
            Terminal.output(JSONDocument.render(document))
        } else {
            for region in document.regions {
                if let refused = region.refused {
                    Terminal.output("region \(region.region): refused: \(refused)")
                } else if region.switchovers.isEmpty {
                    Terminal.output("region \(region.region): primaries already spread evenly")
                } else {
                    for move in region.switchovers {
                        Terminal.output("region \(region.region): \(move.shard) \(move.from) -> \(move.to) \(move.state)")
                    }
                }
            }
        }
        if let refusal {
            if !output.json { Terminal.error("rebalance refused: \(refusal)") }
            throw ExitCode(Failure.checkFailed)
        }
    }

    private func plan(_ region: Region, status: TopologyStatus, open: Set<ShardID>) -> Result<[PrimarySpread.Move], PrimarySpread.Refusal> {
        let current = region.shards.compactMap { shard -> PrimarySpread.Current? in
            guard let seen = status.shards.first(where: { $0.shard == shard.id }) else { return nil }
            return PrimarySpread.Current(shard: shard, primary: seen.primary, operationInProgress: open.contains(shard.id), problems: seen.problems)
        }
        return PrimarySpread.plan(region, current: current)
    }
}

struct RebalanceDocument: Encodable {
    struct Region: Encodable {
        let region: String
        var refused: String?
        var switchovers: [Switchover]
    }

    struct Switchover: Encodable {
        let shard: String
        let from: String
        let to: String
        var state: String
    }

    let version: Int
    let dryRun: Bool
    var regions: [Region]

    enum CodingKeys: String, CodingKey {
        case version, regions
        case dryRun = "dry_run"
    }
}
