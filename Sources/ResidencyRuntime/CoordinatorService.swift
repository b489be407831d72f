import Foundation
import Logging
import ResidencyCore
import ResidencyPostgres

/// `residency coordinator`: holds (or waits for) the lease, probes every node, feeds Core's
/// `Coordinator` and carries out its actions. One loop thread decides and acts; probe
/// threads only observe.
public final class CoordinatorService {
    public let state: StateDirectory
    public let logger: Logger
    /// Who this instance is in the lease table: host, pid and a random suffix.
    public let holder: String
    /// A frozen or dead leader is replaced this long after its last renewal (`LeaseKeeper`
    /// renews it every `leaseRenewal` on a thread of its own).
    public let leaseTTL: Duration
    public let leaseRenewal: Duration

    public init(state: StateDirectory, logger: Logger, leaseTTL: Duration = .seconds(3), leaseRenewal: Duration = .milliseconds(300)) {
        self.state = state
        self.logger = logger
        self.leaseTTL = leaseTTL
        self.leaseRenewal = leaseRenewal
        holder = "\(ProcessInfo.processInfo.hostName):\(getpid()):\(UInt32.random(in: 0...UInt32.max))"
    }

    /// Runs until `shouldStop` returns true; gives the lease up on the way out.
    public func run(shouldStop: () -> Bool) throws(RuntimeError) {
        let layout = try state.requireLayout()
        var control = try ControlStore(layout: layout)
        let topology = try control.requireTopology()
        let nodes = try control.nodes()
        let ports = Dictionary(nodes.map { ($0.node, $0.port) }, uniquingKeysWith: { a, _ in a })
        let data = DataNodes(layout: layout)
        let manager: LocalNodeManager
        do {
            manager = LocalNodeManager(binaries: try ServerBinaries.locate(), user: try ServerUser.current(),
                                       dataRoot: layout.dataRoot, passfile: layout.passfile)
        } catch {
            throw RuntimeError(.unavailable, error.description)
        }
        let prober = NodeProber(
            targets: nodes.map { ($0.node, data.settings(port: $0.port, connectTimeoutSeconds: 2, applicationName: "residency-probe")) },
            interval: topology.failover.probeInterval, deadline: topology.failover.probeDeadline)
        prober.start()
        defer { prober.stop() }

        let keeper = LeaseKeeper(layout: layout, holder: holder, ttl: leaseTTL, renewal: leaseRenewal, logger: logger)
        keeper.start()
        defer { keeper.stop() }
        let housekeeper = MoveHousekeeper(layout: layout, logger: logger) { keeper.token != nil }
        housekeeper.start()
        defer { housekeeper.stop() }
        Thread.sleep(forTimeInterval: 0.5)  // the keeper's first renewal

        let origin = ContinuousClock.now
        func instant(_ at: ContinuousClock.Instant = .now) -> Instant { Instant(at - origin) }
        var coordinator: Coordinator?
        var token: Int64?
        var nextLease = ContinuousClock.now
        var nextPoll = ContinuousClock.now
        var saidWaiting = false
        var held: Set<ZoneID> = []
        var requestsByShard: [ShardID: Int64] = [:]
        var firstSeen: [Int64: ContinuousClock.Instant] = [:]
        logger.notice("coordinator \(holder) started", metadata: ["state": "\(state.path)"])

        while !shouldStop() {
            keeper.loopCheckedIn()
            if ContinuousClock.now >= nextLease {
                nextLease = ContinuousClock.now + .milliseconds(100)
                let acquired = keeper.token
                if let acquired, acquired != token {
                    do {
                        var fresh = try loadCoordinator(control: control, topology: topology)
                        held = fresh.heldZones
                        var queue = fresh.handle(.leaseAcquired(token: acquired), now: instant())
                        token = acquired
                        saidWaiting = false
                        logger.notice("leading with lease token \(acquired)")
                        run(&queue, on: &fresh, control: control, manager: manager, data: data, ports: ports, instant: instant, token: &token)
                        coordinator = token == nil ? nil : fresh
                    } catch {
                        logger.error("cannot load the control state: \(error)")
                    }
                } else if acquired == nil, token != nil || !saidWaiting {
                    if token != nil { logger.warning("lost the lease; acting on no node") }
                    let current = try? control.leaseHolder()
                    logger.notice("waiting: the lease is held by \(current?.holder ?? "another coordinator") until \(current?.expiresAt ?? "?")")
                    saidWaiting = true
                    token = nil
                    coordinator = nil
                }
            }
            guard var current = coordinator, token != nil else {
                _ = prober.drain()
                Thread.sleep(forTimeInterval: 0.05)
                continue
            }
            var queue: [Coordinator.Action] = []
            for result in prober.drain() {
                queue += current.handle(.probed(result.node, result.probe), now: instant(result.at))
            }
            if ContinuousClock.now >= nextPoll {
                nextPoll = ContinuousClock.now + .milliseconds(200)
                if (try? control.heldZones()) == nil, let reconnected = try? ControlStore(layout: layout) {
                    control = reconnected  // the control server restarted, or the connection broke
                }
                if let zones = try? control.heldZones() {
                    let now = Set(zones.keys)
                    for zone in now.subtracting(held) { queue += current.handle(.zoneHeld(zone), now: instant()) }
                    for zone in held.subtracting(now) { queue += current.handle(.zoneReleased(zone), now: instant()) }
                    held = now
                }
                for request in (try? control.pendingRequests()) ?? [] {
                    // A request that arrives before the probes have seen its target (a
                    // coordinator that just took over) waits for them, 5 s at most.
                    let seen = firstSeen[request.id] ?? .now
                    firstSeen[request.id] = seen
                    let target = NodeID(shard: request.shard, zone: request.zone)
                    if !current.hasFreshReport(target, now: instant()), ContinuousClock.now - seen < .seconds(5) { continue }
                    let event: Coordinator.Event = request.kind == "failover"
                        ? .failoverForced(request.shard, to: request.zone) : .switchoverRequested(request.shard, to: request.zone)
                    let actions = current.handle(event, now: instant())
                    let refusal = actions.compactMap { action -> String? in
                        if case let .record(record) = action, record.kind.hasSuffix(".refused") { return record.detail }
                        return nil
                    }.first
                    try? control.answerRequest(request.id, state: refusal == nil ? "accepted" : "refused", answer: refusal ?? "")
                    if refusal == nil { requestsByShard[request.shard] = request.id }
                    queue += actions
                }
            }
            queue += current.handle(.tick, now: instant())
            run(&queue, on: &current, control: control, manager: manager, data: data, ports: ports, instant: instant, token: &token)
            for (shard, id) in requestsByShard where current.shards[shard]?.operation == nil {
                try? control.answerRequest(id, state: "done", answer: "\(current.shards[shard]?.primary.description ?? "?") is primary")
                requestsByShard[shard] = nil
            }
            coordinator = token == nil ? nil : current
            Thread.sleep(forTimeInterval: 0.02)
        }
        keeper.stop()
        Thread.sleep(forTimeInterval: leaseRenewal.inSeconds + 0.1)  // its last renewal
        if let token { try? control.releaseLease(token: token) }
        logger.notice("coordinator \(holder) stopped")
    }

    /// Carries out `queue`, feeding each outcome back into `coordinator`.
    private func run(
        _ queue: inout [Coordinator.Action], on coordinator: inout Coordinator, control: ControlStore, manager: LocalNodeManager,
        data: DataNodes, ports: [NodeID: Int], instant: (ContinuousClock.Instant) -> Instant, token: inout Int64?
    ) {
        let executor = ActionExecutor(control: control, manager: manager, data: data, ports: ports, logger: logger)
        while !queue.isEmpty {
            let action = queue.removeFirst()
            switch executor.execute(action) {
            case .leaseLost:
                logger.warning("a journal write found the lease gone; acting on no node")
                _ = coordinator.handle(.leaseLost, now: instant(.now))
                token = nil
                queue.removeAll()
            case let .event(event?):
                queue += coordinator.handle(event, now: instant(.now))
            case .event(nil):
                break
            }
        }
    }

    /// Core's state as the control store records it.
    private func loadCoordinator(control: ControlStore, topology: Topology) throws(RuntimeError) -> Coordinator {
        let nodes = try control.nodes()
        let operations = try control.openOperations()
        var shards: [ShardID: ShardState] = [:]
        for record in try control.shards() {
            shards[record.shard] = ShardState(
                epoch: record.epoch, primary: record.primary, synchronousSet: record.synchronousStandbys,
                needsRewind: Set(nodes.filter { $0.node.shard == record.shard && $0.needsRewind }.map(\.node)),
                operation: operations.first { $0.shard == record.shard })
        }
        return Coordinator(topology: topology, shards: shards, heldZones: Set(try control.heldZones().keys))
    }
}
