import ArgumentParser
import Foundation
import ResidencyCore
import ResidencyRuntime

/// Hands a switchover or forced failover to the running coordinator (through the control
/// database) and waits for the outcome.
enum OperatorRequest {
    static func submit(kind: String, shard: String, zone: String, state: StateOptions, timeoutSeconds: Double) throws {
        let layout = try state.directory.requireLayout()
        let control = try ControlStore(layout: layout)
        let topology = try control.requireTopology()
        guard let definition = topology.shard(ShardID(shard)) else {
            throw Failure(message: "unknown shard '\(shard)' (shards: \(topology.shards.map(\.id.rawValue).joined(separator: ", ")))", exitCode: Failure.invalidInput)
        }
        guard definition.zones.contains(ZoneID(zone)) else {
            throw Failure(message: "zone '\(zone)' holds no node of \(shard) (its zones: \(definition.zones.map(\.rawValue).joined(separator: ", ")))", exitCode: Failure.invalidInput)
        }
        guard try control.leaseHolder() != nil else {
            throw Failure(message: "no coordinator holds the lease: start one (residency up, or residency coordinator)", exitCode: Failure.unavailable)
        }
        let id = try control.submitRequest(kind: kind, shard: ShardID(shard), zone: ZoneID(zone))
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while Date() < deadline {
            if let (state, answer) = try control.request(id) {
                switch state {
                case "done":
                    Terminal.output("\(kind) of \(shard) done: \(answer); see `residency events`")
                    return
                case "refused":
                    throw Failure(message: "\(kind) refused: \(answer)", exitCode: Failure.checkFailed)
                default:
                    break
                }
            }
            usleep(50_000)
        }
        throw Failure(message: "\(kind) of \(shard) did not finish within \(Int(timeoutSeconds)) s; see `residency events`", exitCode: Failure.unavailable)
    }
}

struct SwitchoverCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchover",
        abstract: "Planned role swap inside a shard with no loss: the target catches up, then the roles swap.",
        discussion: """
            The old primary stops acknowledging commits, the target replays everything it wrote,
            the epoch is bumped, the target gets its synchronous standbys and is promoted; the
            old primary is stopped and rejoins as a standby. Writes pause for the swap only.
            Needs a running coordinator. Exit 1 when the coordinator refused.
            """)

    @Argument(help: "The shard, e.g. eu-central-1.")
    var shard: String
    @Option(help: "The zone of the standby to promote.")
    var to: String
    @Option(help: "Seconds to wait for the outcome.")
    var timeout: Double = 60
    @OptionGroup var state: StateOptions

    func run() throws {
        try OperatorRequest.submit(kind: "switchover", shard: shard, zone: to, state: state, timeoutSeconds: timeout)
    }
}

struct FailoverCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "failover",
        abstract: "Force a promotion the coordinator refused (two zones down): may lose acknowledged writes.",
        discussion: """
            The coordinator refuses a failover it cannot prove safe (rule 2). --force promotes
            the standby of the given zone anyway (still never outside the shard's region) and
            the event log records that an operator forced it.
            """)

    @Argument(help: "The shard, e.g. eu-central-1.")
    var shard: String
    @Option(help: "The zone of the standby to promote.")
    var to: String
    @Flag(help: "Required: acknowledge that acknowledged writes may be lost.")
    var force = false
    @Option(help: "Seconds to wait for the outcome.")
    var timeout: Double = 60
    @OptionGroup var state: StateOptions

    func validate() throws {
        guard force else { throw ValidationError("a forced failover needs --force: it may lose acknowledged writes") }
    }

    func run() throws {
        try OperatorRequest.submit(kind: "failover", shard: shard, zone: to, state: state, timeoutSeconds: timeout)
    }
}
