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
        let answer = try submitAndWait(kind: kind, shard: ShardID(shard), zone: ZoneID(zone), control: control, timeoutSeconds: timeoutSeconds)
        Terminal.output("\(kind) of \(shard) done: \(answer); see `residency events`")
    }

    /// Submits the request and waits for the coordinator's answer: returns it when done,
    /// throws (exit 1) when refused, (exit 2) when not done within the timeout.
    ///
    /// A coordinator that accepted the request and died leaves it `accepted` forever; its
    /// successor resumes the operation from the journal without knowing the request. So an
    /// accepted request whose shard has since reached a newer epoch with no operation open is
    /// done too.
    static func submitAndWait(kind: String, shard: ShardID, zone: ZoneID, control: ControlStore, timeoutSeconds: Double) throws -> String {
        let epochBefore = try control.shards().first { $0.shard == shard }?.epoch
        let id = try control.submitRequest(kind: kind, shard: shard, zone: zone)
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while Date() < deadline {
            if let (state, answer) = try control.request(id) {
                switch state {
                case "done":
                    return answer
                case "refused":
                    throw Failure(message: "\(kind) of \(shard) refused: \(answer)", exitCode: Failure.checkFailed)
                case "accepted":
                    if let record = try control.shards().first(where: { $0.shard == shard }), let epochBefore, record.epoch > epochBefore,
                       try !control.openOperations().contains(where: { $0.shard == shard })
                    {
                        return "\(record.primary) is primary (finished by a successor coordinator)"
                    }
                default:
                    break
                }
            }
            usleep(50_000)
        }
        throw Failure(message: "\(kind) of \(shard) did not finish within \(Int(timeoutSeconds)) s; see `residency events`", exitCode: Failure.unavailable)
    }
}
