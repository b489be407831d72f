import Foundation
import ResidencyCore
import ResidencyPostgres
#if canImport(Glibc)
import Glibc
#endif

/// `zone stop` and `zone start`: what drills do to a zone. A stopped zone is recorded as
/// held down, so neither `up` nor the coordinator starts its servers until `zone start`.
public struct ZoneFaults {
    public enum Mode: String, CaseIterable, Sendable {
        /// Every server process of the zone is killed at once (SIGKILL).
        case powerLoss = "power-loss"
        /// Every server process of the zone is frozen (SIGSTOP); the kernel still accepts connections.
        case partition
    }

    let control: ControlStore
    let manager: LocalNodeManager
    let topology: Topology

    public init(layout: StateDirectory.Layout, control: ControlStore) throws(RuntimeError) {
        self.control = control
        topology = try control.requireTopology()
        manager = try LocalTopology.nodeManager(layout)
    }

    func nodes(in zone: ZoneID) throws(RuntimeError) -> [NodeID] {
        guard topology.region(ofZone: zone) != nil else {
            let zones = topology.regions.flatMap(\.zones).map(\.rawValue)
            throw RuntimeError(.invalidInput, "unknown zone '\(zone)' (zones: \(zones.joined(separator: ", ")))")
        }
        return topology.nodes.filter { $0.zone == zone }
    }

    /// Holds the zone down, then kills or freezes every process of its servers at once;
    /// returns the pids signalled per node.
    public func stop(_ zone: ZoneID, mode: Mode) throws(RuntimeError) -> [(node: NodeID, pids: [Int32])] {
        let members = try nodes(in: zone)
        try control.holdZone(zone, mode: mode.rawValue)
        let signalled = manager.signalAll(servers: members.map(\.fileName), mode == .powerLoss ? SIGKILL : SIGSTOP)
        let processes = Array(zip(members, signalled))
        try? control.appendEvent(kind: "zone.stop", detail: "zone \(zone) \(mode.rawValue): \(processes.reduce(0) { $0 + $1.1.count }) process(es)")
        return processes
    }

    /// Releases the zone: thaws frozen servers. Servers that are down are started again by
    /// the coordinator (former primaries rewound first), or by `up` when none runs.
    public func start(_ zone: ZoneID) throws(RuntimeError) -> [(node: NodeID, pids: [Int32])] {
        let members = try nodes(in: zone)
        let mode = try control.releaseZone(zone)
        var thawed: [(NodeID, [Int32])] = []
        if mode == Mode.partition.rawValue {
            for node in members { thawed.append((node, manager.signalAll(node.fileName, SIGCONT))) }
        }
        try? control.appendEvent(kind: "zone.start", detail: "zone \(zone) released (was \(mode ?? "not held"))")
        return thawed
    }
}
