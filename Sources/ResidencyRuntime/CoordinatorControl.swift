import Foundation
import ResidencyCore

/// What the coordinator reads from and writes to the control store: lease checks, the
/// failover journal, epochs, rewind marks, synchronous sets, held zones, operator requests
/// and the event log. `ControlStore` implements it against the control server; a simulator
/// implements it in memory. Every write that decides something is checked against the
/// lease token and throws `.notLeader` when the lease is gone.
public protocol CoordinatorControl: AnyObject {
    func checkLease(token: Int64) throws(RuntimeError)
    func journal(_ operation: ShardOperation, token: Int64) throws(RuntimeError)
    func bumpEpoch(_ operation: ShardOperation, token: Int64) throws(RuntimeError)
    func finish(_ operation: ShardOperation, token: Int64) throws(RuntimeError)
    func setNeedsRewind(_ node: NodeID, _ value: Bool, token: Int64) throws(RuntimeError)
    func setSynchronousStandbys(_ shard: ShardID, _ standbys: [NodeID], token: Int64) throws(RuntimeError)
    /// Appends records in one commit.
    func appendEvents(_ entries: [EventEntry]) throws(RuntimeError)
    /// The state a new leader restores Core from.
    func snapshot() throws(RuntimeError) -> ControlSnapshot
    func heldZones() throws(RuntimeError) -> [ZoneID: String]
    func coordinatorRequests() throws(RuntimeError) -> [CoordinatorDriver.Request]
    func answerRequest(_ id: Int64, state: String, answer: String) throws(RuntimeError)
}

/// An event-log record as the coordinator writes it: how long its action took, if it was
/// one, and when it happened (`nil`: when written).
public struct EventEntry: Sendable {
    public let record: CoordinatorRecord
    public let duration: Duration?
    public let at: Date?

    public init(_ record: CoordinatorRecord, duration: Duration? = nil, at: Date? = nil) {
        self.record = record
        self.duration = duration
        self.at = at
    }
}

extension ControlStore: CoordinatorControl {
    public func snapshot() throws(RuntimeError) -> ControlSnapshot {
        let nodes = try nodes()
        return ControlSnapshot(
            shards: try shards().map {
                ControlSnapshot.ShardRecord(shard: $0.shard, epoch: $0.epoch, primary: $0.primary, synchronousSet: $0.synchronousStandbys)
            },
            needsRewind: Set(nodes.filter(\.needsRewind).map(\.node)),
            openOperations: try openOperations(),
            heldZones: Set(try heldZones().keys))
    }

    /// The pending requests Core can decide (an unknown kind is answered as refused).
    public func coordinatorRequests() throws(RuntimeError) -> [CoordinatorDriver.Request] {
        var known: [CoordinatorDriver.Request] = []
        for request in try pendingRequests() {
            if let kind = CoordinatorDriver.Request.Kind(rawValue: request.kind) {
                known.append(CoordinatorDriver.Request(id: request.id, kind: kind, shard: request.shard, zone: request.zone))
            } else {
                try answerRequest(request.id, state: "refused", answer: "unknown request kind '\(request.kind)'")
            }
        }
        return known
    }
}
