/// The coordinator's decisions as a state machine: events in, actions out. The Runtime
/// (against real PostgreSQL) and later the simulator carry the actions out and report back
/// with events; nothing here does I/O or reads a clock. `now` must never go back: every
/// call passes a time at or after the previous one (a probe's own time travels in
/// `.probed`). `CoordinatorDriver` wraps it with the loop's bookkeeping (lease, requests,
/// effect lanes).
///
/// Only a leader acts: every action carries the lease token it was decided under, and the
/// Runtime carries it out only after a journal write checked against that token succeeded.
public struct Coordinator: Sendable {
    /// One probe's result, with the time it finished.
    public struct Probe: Hashable, Sendable {
        public let node: NodeID
        public let probe: NodeProbe
        public let at: Instant

        public init(node: NodeID, probe: NodeProbe, at: Instant) {
            self.node = node
            self.probe = probe
            self.at = at
        }
    }

    public enum Event: Hashable, Sendable {
        case leaseAcquired(token: Int64)
        case leaseLost
        /// A probe of `node` that finished at `at` (at or before the `now` it is handled at).
        case probed(NodeID, NodeProbe, at: Instant)
        /// Many probes at once (a loop step's worth, oldest first): each is recorded, then
        /// each shard they touch is judged once, on all of them.
        case probes([Probe])
        /// Every node whose latest probe is older than `at` was probed again and answered
        /// exactly as then, at `at`: recorded as `.probes` of those probes would be (a
        /// simulator's round where only what changed travels as probes). Shards are judged
        /// by the `.tick` that follows (`CoordinatorDriver.step` always sends one).
        case probesRepeated(at: Instant)
        /// Time passed.
        case tick
        case stepDone(ShardID, ShardOperation.Step)
        case stepFailed(ShardID, ShardOperation.Step, EffectFailure)
        case switchoverRequested(ShardID, to: ZoneID)
        /// An operator overrides rule 2 (two zones down): promote this zone's node anyway.
        case failoverForced(ShardID, to: ZoneID)
        /// An operator makes a restored server (staged by `backup restore --promote`) the
        /// shard, its primary in this zone; refused while the primary answers unless `force`.
        case restoreRequested(ShardID, to: ZoneID, force: Bool)
        case zoneHeld(ZoneID)
        case zoneReleased(ZoneID)
        /// `node` streams from `following` (the primary the rejoin was decided for).
        case rejoined(NodeID, following: NodeID)
        case rejoinFailed(NodeID, EffectFailure)
        case fenced(NodeID)
        case fenceFailed(NodeID, EffectFailure)
        case synchronousStandbysSet(NodeID, standbys: [NodeID])
        case synchronousStandbysFailed(NodeID, EffectFailure)
    }

    public enum Action: Hashable, Sendable {
        /// Journal the step as started (checked against `token`), carry it out, journal it
        /// as done, and report `.stepDone` (or `.stepFailed`).
        case perform(ShardOperation, token: Int64)
        /// Rule 5: stop a former primary that answers as a primary.
        case fence(NodeID, token: Int64)
        /// Make `node` a streaming standby of `primary`, rewinding it first when it was a
        /// primary; when `node` is `primary`, restart it in place.
        case rejoin(NodeID, primary: NodeID, rewind: Bool, token: Int64)
        /// Record that `node`, marked for rewind, already streams from `primary` (then `.rejoined`).
        case confirmRejoined(NodeID, primary: NodeID, token: Int64)
        /// Give `primary` the synchronous set `standbys` (`ANY 1 (...)`).
        case setSynchronousStandbys(NodeID, standbys: [NodeID], token: Int64)
        /// Append to the event log.
        case record(CoordinatorRecord)
    }

    public let topology: Topology
    public private(set) var heldZones: Set<ZoneID>
    public private(set) var token: Int64?

    /// Every shard's state, by id. Built on each call (the coordinator keeps its state in
    /// arrays); a single shard's is `state(of:)`.
    public var shards: [ShardID: ShardState] {
        var result: [ShardID: ShardState] = [:]
        for (number, slot) in shardSlots.enumerated() { if let state = slot.state { result[index.shardIDs[number]] = state } }
        return result
    }

    public func state(of shard: ShardID) -> ShardState? {
        index.shardNumber[shard].flatMap { shardSlots[$0].state }
    }

    private let settings: FailoverSettings
    private let index: Index
    private var lastNow: Instant?
    private var nodeSlots: [NodeSlot]
    private var shardSlots: [ShardSlot]
    private var zoneSlots: [ZoneSlot]

    /// The topology's shards and nodes, numbered once: decisions look them up by number in
    /// arrays, never by name (a region may hold thousands of shards, and a zone loss judges
    /// every one of them in one step).
    private final class Index: Sendable {
        let shardIDs: [ShardID]
        let shardNumber: [ShardID: Int]
        let definitions: [Shard]
        /// Each shard's node numbers, in `Shard.nodes` order.
        let members: [[Int]]
        /// The same as ids.
        let memberIDs: [[NodeID]]
        /// Each shard's members in a zone of its region (rule 1 without the primary).
        let inRegion: [[Int]]
        let nodeIDs: [NodeID]
        let nodeNumber: [NodeID: Int]
        let ports: [Int?]
        /// Each node's shard number.
        let shardOf: [Int]
        /// Each node's zone number (zones numbered in order of first appearance).
        let zoneOf: [Int]
        /// Each zone's node numbers.
        let zoneNodes: [[Int]]
        /// Shard numbers in id order: the order of a tick's judgements.
        let order: [Int]

        init(_ topology: Topology) {
            var shardIDs: [ShardID] = []
            var shardNumber: [ShardID: Int] = [:]
            var definitions: [Shard] = []
            for shard in topology.shards where shardNumber[shard.id] == nil {
                shardNumber[shard.id] = shardIDs.count
                shardIDs.append(shard.id)
                definitions.append(shard)
            }
            let portOf = Dictionary(topology.regions.flatMap(\.nodePorts).map { ($0.node, $0.port) }, uniquingKeysWith: { a, _ in a })
            var nodeIDs: [NodeID] = []
            var nodeNumber: [NodeID: Int] = [:]
            var ports: [Int?] = []
            var members: [[Int]] = []
            var inRegion: [[Int]] = []
            var shardOf: [Int] = []
            var zoneOf: [Int] = []
            var zoneNumber: [ZoneID: Int] = [:]
            var zoneNodes: [[Int]] = []
            for (shardNumber, shard) in definitions.enumerated() {
                var numbers: [Int] = []
                for node in shard.nodes {
                    let number = nodeNumber[node] ?? nodeIDs.count
                    if number == nodeIDs.count {
                        nodeNumber[node] = number
                        nodeIDs.append(node)
                        ports.append(portOf[node])
                        shardOf.append(shardNumber)
                        let zone = zoneNumber[node.zone] ?? zoneNodes.count
                        if zone == zoneNodes.count {
                            zoneNumber[node.zone] = zone
                            zoneNodes.append([])
                        }
                        zoneOf.append(zone)
                        zoneNodes[zone].append(number)
                    }
                    numbers.append(number)
                }
                members.append(numbers)
                inRegion.append(numbers.filter { FailoverRules.isMemberInRegion(nodeIDs[$0], of: shard, in: topology) })
            }
            self.shardIDs = shardIDs
            self.shardNumber = shardNumber
            self.definitions = definitions
            self.members = members
            memberIDs = members.map { $0.map { nodeIDs[$0] } }
            self.inRegion = inRegion
            self.nodeIDs = nodeIDs
            self.nodeNumber = nodeNumber
            self.ports = ports
            self.shardOf = shardOf
            self.zoneOf = zoneOf
            self.zoneNodes = zoneNodes
            order = shardIDs.indices.sorted { shardIDs[$0] < shardIDs[$1] }
        }
    }

    /// What the coordinator remembers of one node. The latest probe is kept as its time,
    /// the probe, and the few fields every round reads (a round touches every node: the
    /// probe itself is not copied to read them).
    private struct NodeSlot: Sendable {
        var lastReachable: Instant?
        var latestAt: Instant?
        var latestProbe = NodeProbe.unreachable
        /// The latest probe answered; then whether in recovery, and the port it streams from.
        var isReachable = false
        var inRecovery = false
        var upstreamPort: Int?
        /// A fence, rejoin or confirmation of it runs.
        var busy = false
        /// A `.rejoin` of it runs (counted in its zone's `rejoinsInFlight`).
        var rejoining = false
        var nextRejoin: Instant?
        /// Rejoins of it that failed in a row.
        var rejoinFailures = 0
        var nextFence: Instant?

        /// The latest probe, when there was one.
        var latest: (at: Instant, probe: NodeProbe)? { latestAt.map { ($0, latestProbe) } }
        /// The latest probe is known and got no answer.
        var isDown: Bool { latestAt != nil && !isReachable }

        /// The latest probe's report, when it answered.
        var report: (at: Instant, report: NodeReport)? {
            guard let latestAt, case let .reachable(report) = latestProbe else { return nil }
            return (latestAt, report)
        }
    }

    /// What the coordinator remembers of one zone: a zone where no node answers (power
    /// loss, cut off) gets one rejoin at a time, on a backoff, until one comes back.
    private struct ZoneSlot: Sendable {
        /// Its nodes whose latest probe answered.
        var reachable = 0
        var rejoinsInFlight = 0
        /// Rejoins in it that failed in a row.
        var rejoinFailures = 0
        var nextRejoin: Instant?
    }

    /// What the coordinator remembers of one shard besides its recorded state.
    private struct ShardSlot: Sendable {
        var state: ShardState? {
            didSet { mirror() }
        }
        /// Plain copies of what every round reads of `state` and `refused`: reading them
        /// does not copy the state (its sets and operation).
        private(set) var hasOperation = false
        private(set) var anyRewind = false
        private(set) var isRefused = false
        /// The node number of `state.primary`.
        var primary: Int?
        var stepInFlight = false
        var retryAt: Instant?
        var refused: FailoverRules.Refusal? {
            didSet { isRefused = refused != nil }
        }
        var refusedSince: Instant?
        /// The primary must be given `synchronousSet` (a member rejoined, or the last
        /// attempt failed), from this time on; sent only while no operation runs.
        var synchronousSetDue: Instant?
        var synchronousSetInFlight = false

        init(state: ShardState?, primary: Int?) {
            self.state = state
            self.primary = primary
            mirror()
        }

        private mutating func mirror() {
            hasOperation = state?.operation != nil
            anyRewind = state.map { !$0.needsRewind.isEmpty } ?? false
        }
    }

    /// Shards in `shards` that the topology does not define are ignored (nothing could be
    /// decided for them: their members and region are unknown).
    public init(topology: Topology, shards: [ShardID: ShardState], heldZones: Set<ZoneID>) {
        self.topology = topology
        self.heldZones = heldZones
        settings = topology.failover
        index = Index(topology)
        nodeSlots = Array(repeating: NodeSlot(), count: index.nodeIDs.count)
        zoneSlots = Array(repeating: ZoneSlot(), count: index.zoneNodes.count)
        let index = index
        shardSlots = index.shardIDs.map { ShardSlot(state: shards[$0], primary: shards[$0].flatMap { index.nodeNumber[$0.primary] }) }
    }

    /// Core's state as the control store recorded it: the restore a new leader starts from.
    public init(topology: Topology, restoring snapshot: ControlSnapshot) {
        var shards: [ShardID: ShardState] = [:]
        for record in snapshot.shards {
            shards[record.shard] = ShardState(
                epoch: record.epoch, primary: record.primary, synchronousSet: record.synchronousSet,
                needsRewind: snapshot.needsRewind.filter { $0.shard == record.shard },
                operation: snapshot.openOperations.first { $0.shard == record.shard })
        }
        self.init(topology: topology, shards: shards, heldZones: snapshot.heldZones)
    }

    public var isLeader: Bool { token != nil }

    /// Whether the last probe of `node` answered, within `failoverAfter` of `now`.
    public func hasFreshReport(_ node: NodeID, now: Instant) -> Bool {
        guard let number = index.nodeNumber[node], let (at, _) = nodeSlots[number].report else { return false }
        return now - at < settings.failoverAfter
    }

    /// The earliest instant after `now` at which time alone (no new probe result, finished
    /// effect or request) could make this coordinator act: a failover or rejoin wait
    /// running out, a retry or backoff ending, a refusal lasting long enough to restart in
    /// place. `nil` when nothing waits on a timer. A simulator may skip the probe rounds up
    /// to it when nothing else changes.
    public func nextWake(after now: Instant) -> Instant? {
        var wake: Instant?
        func consider(_ instant: Instant?) {
            guard let instant, instant > now else { return }
            wake = min(wake ?? instant, instant)
        }
        for member in nodeSlots.indices where !nodeSlots[member].busy && nodeSlots[member].latestAt != nil {
            if nodeSlots[member].isReachable {
                consider(nodeSlots[member].nextFence)
                continue
            }
            if let seen = nodeSlots[member].lastReachable {
                consider(seen + settings.failoverAfter)
                consider(seen + settings.rejoinAfter)
            }
            consider(nodeSlots[member].nextRejoin)
            consider(zoneSlots[index.zoneOf[member]].nextRejoin)
        }
        for number in shardSlots.indices {
            if shardSlots[number].hasOperation, !shardSlots[number].stepInFlight { consider(shardSlots[number].retryAt) }
            consider(shardSlots[number].synchronousSetDue)
            if shardSlots[number].isRefused, let since = shardSlots[number].refusedSince { consider(since + settings.restartInPlaceAfter) }
        }
        return wake
    }

    public mutating func handle(_ event: Event, now: Instant) -> [Action] {
        if let lastNow { precondition(now >= lastNow, "Coordinator: now went back from \(lastNow) to \(now)") }
        lastNow = now
        switch event {
        case let .leaseAcquired(token):
            self.token = token
            var actions: [Action] = [.record(CoordinatorRecord(kind: "coordinator.leader", detail: "lease token \(token)"))]
            // Time spent as a follower proves nothing: every node gets a fresh grace period.
            for number in nodeSlots.indices {
                nodeSlots[number].lastReachable = now
                nodeSlots[number].busy = false
                nodeSlots[number].rejoining = false
            }
            for zone in zoneSlots.indices { zoneSlots[zone].rejoinsInFlight = 0 }
            for number in index.order {
                shardSlots[number].stepInFlight = false
                shardSlots[number].synchronousSetInFlight = false
                guard let operation = shardSlots[number].state?.operation else { continue }
                shardSlots[number].stepInFlight = true
                actions.append(.record(CoordinatorRecord(
                    kind: "\(operation.kind.rawValue).resumed", shard: operation.shard, epoch: operation.epoch, from: operation.from,
                    to: operation.to, detail: "resuming at step \(operation.step.rawValue)")))
                actions.append(.perform(operation, token: token))
            }
            return actions

        case .leaseLost:
            token = nil
            return []

        case let .probed(node, probe, at):
            guard let member = index.nodeNumber[node] else { return [] }
            var actions: [Action] = []
            observe(member, probe, at: at, now: now, into: &actions)
            evaluate(index.shardOf[member], now: now, into: &actions)
            return actions

        case let .probes(batch):
            var actions: [Action] = []
            var touched = Array(repeating: false, count: shardSlots.count)
            for probe in batch {
                guard let member = index.nodeNumber[probe.node] else { continue }
                observe(member, probe.probe, at: probe.at, now: now, into: &actions)
                touched[index.shardOf[member]] = true
            }
            for number in index.order where touched[number] { evaluate(number, now: now, into: &actions) }
            return actions

        case let .probesRepeated(at):
            var actions: [Action] = []
            for member in nodeSlots.indices {
                guard let previous = nodeSlots[member].latestAt, previous < at else { continue }
                nodeSlots[member].latestAt = at
                guard nodeSlots[member].isReachable else { continue }
                nodeSlots[member].lastReachable = max(at, nodeSlots[member].lastReachable ?? at)
                judgeAnswer(member, now: now, into: &actions)
            }
            return actions

        case .tick:
            var actions: [Action] = []
            for number in index.order { evaluate(number, now: now, into: &actions) }
            return actions

        case let .stepDone(id, step):
            guard let number = index.shardNumber[id] else { return [] }
            shardSlots[number].stepInFlight = false
            guard var shard = shardSlots[number].state, var operation = shard.operation, operation.step == step else { return [] }
            if step == .epoch {
                shard.epoch = operation.epoch
                shard.primary = operation.to
                shardSlots[number].primary = index.nodeNumber[operation.to]
                shard.synchronousSet = operation.standbys
                switch operation.kind {
                case .switchover: break
                case .failover, .forcedFailover: shard.needsRewind.insert(operation.from)
                // Every other member holds the old data: each is rebuilt from the restored primary.
                case .restore: shard.needsRewind.formUnion(index.memberIDs[number].filter { $0 != operation.to })
                }
                shardSlots[number].refused = nil
            }
            if step == .fence, operation.kind == .switchover { shard.needsRewind.insert(operation.from) }
            operation.step = step.next(for: operation.kind)
            if operation.step == .done {
                shard.operation = nil
                shardSlots[number].state = shard
                return [.record(CoordinatorRecord(
                    kind: "\(operation.kind.rawValue).done", shard: id, epoch: operation.epoch, from: operation.from,
                    to: operation.to, detail: "\(operation.to) is primary of \(id) at epoch \(operation.epoch)"))]
            }
            shard.operation = operation
            shardSlots[number].state = shard
            guard let token else { return [] }
            shardSlots[number].stepInFlight = true
            return [.perform(operation, token: token)]

        case let .stepFailed(id, step, failure):
            guard let number = index.shardNumber[id] else { return [] }
            shardSlots[number].stepInFlight = false
            guard let shard = shardSlots[number].state, let operation = shard.operation, operation.step == step else { return [] }
            let reason = failure.description
            var actions: [Action] = [.record(CoordinatorRecord(
                kind: "\(operation.kind.rawValue).step-failed", shard: id, epoch: operation.epoch, from: operation.from,
                to: operation.to, detail: "\(step.rawValue): \(reason); again in \(settings.retryPause)"))]
            if step == .drain {
                // Nothing changed yet (the Runtime restored the old primary's synchronous set).
                shardSlots[number].state?.operation = nil
                actions.append(.record(CoordinatorRecord(kind: "switchover.aborted", shard: id, epoch: shard.epoch, from: operation.from, to: operation.to, detail: reason)))
            } else {
                shardSlots[number].retryAt = now + settings.retryPause
            }
            return actions

        case let .switchoverRequested(id, zone):
            return startOperation(.switchover, shard: id, zone: zone, now: now)

        case let .failoverForced(id, zone):
            return startOperation(.forcedFailover, shard: id, zone: zone, now: now)

        case let .restoreRequested(id, zone, force):
            return startRestore(shard: id, zone: zone, force: force, now: now)

        case let .zoneHeld(zone):
            heldZones.insert(zone)
            return []

        case let .zoneReleased(zone):
            heldZones.remove(zone)
            return []

        case let .rejoined(node, following):
            guard let member = index.nodeNumber[node] else { return [] }
            let number = index.shardOf[member]
            nodeSlots[member].busy = false
            rejoinEnded(member, failed: false, now: now)
            // It just started: give the probes a grace period before judging it again.
            nodeSlots[member].lastReachable = now
            guard var shard = shardSlots[number].state else { return [] }
            guard following == shard.primary || node == shard.primary else {
                // The shard failed over while the rejoin ran: it follows a former primary.
                // Rejoin it again (a running standby is repointed over SQL) at once.
                nodeSlots[member].nextRejoin = nil
                guard let token, node != shard.primary else { return [] }
                nodeSlots[member].busy = true
                nodeSlots[member].rejoining = true
                zoneSlots[index.zoneOf[member]].rejoinsInFlight += 1
                return [
                    .record(CoordinatorRecord(kind: "rejoin.outdated", shard: node.shard, epoch: shard.epoch, from: node, to: shard.primary,
                                              detail: "\(node) was rejoined to \(following), no longer the primary; repointing it to \(shard.primary)")),
                    .rejoin(node, primary: shard.primary, rewind: shard.needsRewind.contains(node), token: token),
                ]
            }
            shard.needsRewind.remove(node)
            var actions: [Action] = [.record(CoordinatorRecord(kind: "rejoin.done", shard: node.shard, epoch: shard.epoch, from: node, to: shard.primary, detail: "\(node) streams from \(shard.primary)"))]
            if !shard.synchronousSet.contains(node), node != shard.primary {
                shard.synchronousSet = index.memberIDs[number].filter { shard.synchronousSet.contains($0) || $0 == node }
                shardSlots[number].synchronousSetDue = now
            }
            shardSlots[number].state = shard
            evaluate(number, now: now, into: &actions)
            return actions

        case let .rejoinFailed(node, failure):
            guard let member = index.nodeNumber[node] else { return [] }
            nodeSlots[member].busy = false
            let pause = rejoinEnded(member, failed: true, now: now)
            return [.record(CoordinatorRecord(kind: "rejoin.failed", shard: node.shard, epoch: shardSlots[index.shardOf[member]].state?.epoch, from: node,
                                              detail: "\(failure); again in \(pause) at the earliest"))]

        case let .fenced(node):
            if let member = index.nodeNumber[node] { nodeSlots[member].busy = false }
            return []

        case let .fenceFailed(node, failure):
            // The next probe that still finds it a primary fences it again, after the pause.
            guard let member = index.nodeNumber[node] else { return [] }
            nodeSlots[member].busy = false
            nodeSlots[member].nextFence = now + settings.retryPause
            return [.record(CoordinatorRecord(kind: "fence.failed", shard: node.shard, epoch: state(of: node.shard)?.epoch, from: node,
                                              detail: "\(failure); again in \(settings.retryPause) if it still answers as a primary"))]

        case let .synchronousStandbysSet(primary, standbys):
            guard let number = index.shardNumber[primary.shard] else { return [] }
            shardSlots[number].synchronousSetInFlight = false
            // A member that rejoined meanwhile asks for another change.
            if let shard = shardSlots[number].state, shard.primary != primary || shard.synchronousSet != standbys {
                shardSlots[number].synchronousSetDue = shardSlots[number].synchronousSetDue ?? now
            }
            var actions: [Action] = []
            evaluate(number, now: now, into: &actions)
            return actions

        case let .synchronousStandbysFailed(primary, failure):
            guard let number = index.shardNumber[primary.shard] else { return [] }
            shardSlots[number].synchronousSetInFlight = false
            shardSlots[number].synchronousSetDue = now + settings.retryPause
            return [.record(CoordinatorRecord(kind: "synchronous-standbys.failed", shard: primary.shard, epoch: shardSlots[number].state?.epoch,
                                              from: primary, detail: "\(failure); again in \(settings.retryPause)"))]
        }
    }

    // MARK: decisions

    /// Records a probe of node `member` (the newest of a node counts); fences a former
    /// primary that answers as a primary, and confirms a rewound node that already streams
    /// from the primary. Cheap checks first: every node passes here every probe round.
    private mutating func observe(_ member: Int, _ probe: NodeProbe, at: Instant, now: Instant, into actions: inout [Action]) {
        if let previous = nodeSlots[member].latestAt, previous > at { return }
        let wasReachable = nodeSlots[member].isReachable
        nodeSlots[member].latestAt = at
        nodeSlots[member].latestProbe = probe
        guard case let .reachable(report) = probe else {
            nodeSlots[member].isReachable = false
            if wasReachable { zoneSlots[index.zoneOf[member]].reachable -= 1 }
            return
        }
        nodeSlots[member].isReachable = true
        nodeSlots[member].inRecovery = report.inRecovery
        nodeSlots[member].upstreamPort = report.upstreamPort
        if !wasReachable {
            let zone = index.zoneOf[member]
            zoneSlots[zone].reachable += 1
            if zoneSlots[zone].reachable == 1 {
                // The zone answers again: what failed while it was dark says nothing now.
                zoneSlots[zone].rejoinFailures = 0
                zoneSlots[zone].nextRejoin = nil
            }
        }
        nodeSlots[member].lastReachable = max(at, nodeSlots[member].lastReachable ?? at)
        judgeAnswer(member, now: now, into: &actions)
    }

    /// A node answered (its latest probe): fence it if it is a former primary answering as
    /// a primary; confirm it rejoined if it was marked for rewind and streams from the primary.
    private mutating func judgeAnswer(_ member: Int, now: Instant, into actions: inout [Action]) {
        let number = index.shardOf[member]
        guard let token, let primary = shardSlots[number].primary, !nodeSlots[member].busy else { return }
        if FailoverRules.isStaleFormerPrimary(member, inRecovery: nodeSlots[member].inRecovery, currentPrimary: primary),
           now >= nodeSlots[member].nextFence ?? now,
           let shard = shardSlots[number].state,
           shard.operation == nil || shard.operation?.step == .fence || shard.operation?.step == .done
        {
            let node = index.nodeIDs[member]
            nodeSlots[member].busy = true
            shardSlots[number].state?.needsRewind.insert(node)
            actions.append(.record(CoordinatorRecord(kind: "fence", shard: node.shard, epoch: shard.epoch, from: node, to: shard.primary,
                                                     detail: "former primary answers as a primary; fencing it before anything else")))
            actions.append(.fence(node, token: token))
            return
        }
        // A node still marked for rewind that streams from the current primary has been
        // rewound (it could not follow a diverged timeline): a journal write lost after
        // the rejoin acted (lease expired meanwhile) must not bar it from promotion forever.
        if nodeSlots[member].inRecovery, let upstream = nodeSlots[member].upstreamPort, upstream == index.ports[primary], isMarkedForRewind(member) {
            nodeSlots[member].busy = true
            actions.append(.confirmRejoined(index.nodeIDs[member], primary: index.nodeIDs[primary], token: token))
        }
    }

    /// Read in place: every streaming standby passes here every probe round.
    private func isMarkedForRewind(_ member: Int) -> Bool {
        let number = index.shardOf[member]
        guard shardSlots[number].anyRewind else { return false }
        return shardSlots[number].state?.needsRewind.contains(index.nodeIDs[member]) ?? false
    }

    /// Judges one shard: retries a failed step, fails over, sends a synchronous set that
    /// is due, rejoins members that are down. Appends what to do to `actions`.
    private mutating func evaluate(_ number: Int, now: Instant, into actions: inout [Action]) {
        guard token != nil, let primary = shardSlots[number].primary, !isSettled(number, primary: primary, now: now),
              let token, let shard = shardSlots[number].state else { return }
        if let operation = shard.operation {
            if !shardSlots[number].stepInFlight, let retry = shardSlots[number].retryAt, now >= retry {
                shardSlots[number].retryAt = nil
                shardSlots[number].stepInFlight = true
                actions.append(.perform(operation, token: token))
            }
            return
        }
        if primaryHasFailed(number, primary: primary, now: now) {
            failOver(number, shard: shard, primary: primary, now: now, into: &actions)
            guard shardSlots[number].state?.operation == nil, shardSlots[number].refused != nil else { return }
            // Promotion refused (two zones, or the whole region, down): nothing may be
            // promoted, so what comes back comes back as it was: standbys at once, the
            // primary in place once the refusal has lasted.
            let settled = now - (shardSlots[number].refusedSince ?? now) >= settings.restartInPlaceAfter
            rejoins(number, shard: shard, primary: primary, now: now, token: token, includingPrimary: settled, into: &actions)
            return
        }
        shardSlots[number].refused = nil
        shardSlots[number].refusedSince = nil
        // Never while an operation runs (returned above): a switchover's drain has just
        // stopped the old primary's acknowledgements, and giving it a set back would undo that.
        if let due = shardSlots[number].synchronousSetDue, now >= due, !shardSlots[number].synchronousSetInFlight {
            shardSlots[number].synchronousSetDue = nil
            shardSlots[number].synchronousSetInFlight = true
            actions.append(.setSynchronousStandbys(shard.primary, standbys: shard.synchronousSet, token: token))
        }
        rejoins(number, shard: shard, primary: primary, now: now, token: token, into: &actions)
    }

    /// Whether judging shard `number` would do nothing: no operation, nothing due or
    /// refused, every member answering, the primary lately. Checked first, without copying
    /// the shard's state: a step judges every shard, and nearly all are settled.
    private func isSettled(_ number: Int, primary: Int, now: Instant) -> Bool {
        guard !shardSlots[number].isRefused, shardSlots[number].synchronousSetDue == nil, !shardSlots[number].hasOperation,
              now - (nodeSlots[primary].lastReachable ?? now) < settings.failoverAfter
        else { return false }
        for member in index.members[number] where !nodeSlots[member].isReachable { return false }
        return true
    }

    /// The primary (node number `primary`) has not answered for `failoverAfter`, and no
    /// standby heard from it lately.
    private func primaryHasFailed(_ number: Int, primary: Int, now: Instant) -> Bool {
        let seen = nodeSlots[primary].lastReachable ?? now
        guard now - seen >= settings.failoverAfter else { return false }
        let primaryPort = index.ports[primary]
        for member in index.members[number] where member != primary {
            if let (at, report) = nodeSlots[member].report, at >= seen,
               report.upstreamPort != nil, report.upstreamPort == primaryPort,
               let since = report.sinceUpstreamMessage, since < settings.failoverAfter
            {
                return false
            }
        }
        return true
    }

    private mutating func failOver(_ number: Int, shard: ShardState, primary: Int, now: Instant, into actions: inout [Action]) {
        let id = index.shardIDs[number]
        let seen = nodeSlots[primary].lastReachable ?? now
        var reachable: [FailoverRules.Reachable] = []
        for member in index.inRegion[number] where member != primary {
            let node = index.nodeIDs[member]
            guard let (at, report) = nodeSlots[member].report, report.inRecovery, now - at < settings.failoverAfter,
                  heldZones.isEmpty || !heldZones.contains(node.zone), !shard.needsRewind.contains(node)
            else { continue }
            reachable.append(FailoverRules.Reachable(node: node, receivedLSN: report.receivedLSN ?? LSN(0), fresh: at > seen))
        }
        switch FailoverRules.provenCandidate(synchronousSet: shard.synchronousSet, reachable: reachable) {
        case let .success(candidate):
            let remaining = reachable.map(\.node).filter { $0 != candidate }
            let operation = ShardOperation(
                kind: .failover, shard: id, from: shard.primary, to: candidate, epoch: shard.epoch + 1,
                standbys: FailoverRules.newSynchronousSet(for: candidate, members: index.memberIDs[number], remaining: remaining),
                step: ShardOperation.Step.first(for: .failover))
            begin(operation, number: number, detail: "primary \(shard.primary) unreachable for \((now - seen).inMilliseconds) ms; promoting \(candidate)", into: &actions)
        case .failure(.awaitingFreshProbes):
            return
        case let .failure(refusal):
            guard shardSlots[number].refused != refusal else { return }
            if shardSlots[number].refused == nil { shardSlots[number].refusedSince = now }
            shardSlots[number].refused = refusal
            actions.append(.record(CoordinatorRecord(
                kind: "failover.refused", shard: id, epoch: shard.epoch, from: shard.primary,
                detail: "\(refusal); the shard stays without a primary (an operator may force: residency failover \(id) --to ZONE --force)")))
        }
    }

    private mutating func startOperation(_ kind: ShardOperation.Kind, shard id: ShardID, zone: ZoneID, now: Instant) -> [Action] {
        func refuse(_ why: String) -> [Action] {
            [.record(CoordinatorRecord(kind: "\(kind.rawValue).refused", shard: id, epoch: state(of: id)?.epoch, detail: why))]
        }
        guard token != nil else { return refuse("this coordinator does not hold the lease") }
        guard let number = index.shardNumber[id], let shard = shardSlots[number].state else { return refuse("unknown shard \(id)") }
        let definition = index.definitions[number]
        guard shard.operation == nil else { return refuse("an operation is in progress on \(id)") }
        let target = NodeID(shard: id, zone: zone)
        guard FailoverRules.isCandidate(target, for: definition, primary: shard.primary, in: topology), let member = index.nodeNumber[target] else {
            return refuse("\(target) is not a standby of \(id) in region \(definition.region)")
        }
        guard !heldZones.contains(zone), let (at, report) = nodeSlots[member].report, report.inRecovery,
              now - at < settings.failoverAfter, !shard.needsRewind.contains(target)
        else { return refuse("\(target) is not a reachable, streaming standby") }
        let remaining = index.members[number].filter { other in
            guard other != member, index.nodeIDs[other] != shard.primary, let (seen, _) = nodeSlots[other].report else { return false }
            return now - seen < settings.failoverAfter
        }.map { index.nodeIDs[$0] }
        let operation = ShardOperation(
            kind: kind, shard: id, from: shard.primary, to: target, epoch: shard.epoch + 1,
            standbys: FailoverRules.newSynchronousSet(for: target, members: index.memberIDs[number], remaining: remaining),
            step: ShardOperation.Step.first(for: kind))
        let detail = kind == .forcedFailover
            ? "FORCED by an operator: rule 2 not proved; \(target) may lack acknowledged commits"
            : "planned: \(shard.primary) -> \(target)"
        var actions: [Action] = []
        begin(operation, number: number, detail: detail, into: &actions)
        return actions
    }

    /// A restore replaces the shard's data, so it is refused while the shard's primary
    /// answers (its writes since the restore point would be discarded) unless `force`. Its
    /// target need not answer: the shard may be down because its data is lost.
    private mutating func startRestore(shard id: ShardID, zone: ZoneID, force: Bool, now: Instant) -> [Action] {
        func refuse(_ why: String) -> [Action] {
            [.record(CoordinatorRecord(kind: "restore.refused", shard: id, epoch: state(of: id)?.epoch, detail: why))]
        }
        guard token != nil else { return refuse("this coordinator does not hold the lease") }
        guard let number = index.shardNumber[id], let shard = shardSlots[number].state, let primary = shardSlots[number].primary else {
            return refuse("unknown shard \(id)")
        }
        guard shard.operation == nil else { return refuse("an operation is in progress on \(id)") }
        let target = NodeID(shard: id, zone: zone)
        guard index.memberIDs[number].contains(target) else { return refuse("\(target) is not a member of \(id)") }
        if !force, nodeSlots[primary].isReachable {
            return refuse("the primary \(shard.primary) answers: restoring would discard every write \(id) took after the restore point (add --force to do it anyway)")
        }
        let operation = ShardOperation(
            kind: .restore, shard: id, from: shard.primary, to: target, epoch: shard.epoch + 1,
            standbys: index.memberIDs[number].filter { $0 != target }, step: ShardOperation.Step.first(for: .restore))
        var actions: [Action] = []
        begin(operation, number: number,
              detail: "\(force ? "FORCED " : "")restore by an operator: \(target) becomes primary with the restored data; every other member is rebuilt from it",
              into: &actions)
        return actions
    }

    private mutating func begin(_ operation: ShardOperation, number: Int, detail: String, into actions: inout [Action]) {
        guard let token else { return }
        shardSlots[number].state?.operation = operation
        shardSlots[number].stepInFlight = true
        actions.append(.record(CoordinatorRecord(kind: "\(operation.kind.rawValue).started", shard: operation.shard, epoch: operation.epoch,
                                                 from: operation.from, to: operation.to, detail: detail)))
        actions.append(.perform(operation, token: token))
    }

    /// Books the end of a rejoin of `member`: a failure backs the node off (and its zone,
    /// which matters while nothing there answers); a success clears both, and every other
    /// node of the zone may be tried at once. Returns the node's pause.
    @discardableResult
    private mutating func rejoinEnded(_ member: Int, failed: Bool, now: Instant) -> Duration {
        let zone = index.zoneOf[member]
        if nodeSlots[member].rejoining {
            nodeSlots[member].rejoining = false
            zoneSlots[zone].rejoinsInFlight = max(0, zoneSlots[zone].rejoinsInFlight - 1)
        }
        guard failed else {
            nodeSlots[member].rejoinFailures = 0
            nodeSlots[member].nextRejoin = nil
            if zoneSlots[zone].rejoinFailures > 0 {
                zoneSlots[zone].rejoinFailures = 0
                zoneSlots[zone].nextRejoin = nil
                for other in index.zoneNodes[zone] {
                    nodeSlots[other].rejoinFailures = 0
                    nodeSlots[other].nextRejoin = nil
                }
            }
            return .zero
        }
        nodeSlots[member].rejoinFailures += 1
        zoneSlots[zone].rejoinFailures += 1
        let pause = settings.rejoinPause(afterFailures: nodeSlots[member].rejoinFailures)
        nodeSlots[member].nextRejoin = now + pause
        zoneSlots[zone].nextRejoin = now + settings.rejoinPause(afterFailures: zoneSlots[zone].rejoinFailures)
        return pause
    }

    /// Members that are down (and not held down by an operator) are brought back as
    /// standbys; with `includingPrimary`, a primary whose promotion was refused is restarted
    /// in place (`.rejoin(primary, primary: primary, ...)`).
    private mutating func rejoins(_ number: Int, shard: ShardState, primary: Int, now: Instant, token: Int64, includingPrimary: Bool = false,
                                  into actions: inout [Action]) {
        for member in index.members[number] where (includingPrimary || member != primary) && !nodeSlots[member].busy {
            let slot = nodeSlots[member]
            let seen = slot.lastReachable ?? now
            guard slot.isDown, now - seen >= settings.rejoinAfter, now >= slot.nextRejoin ?? now else { continue }
            let node = index.nodeIDs[member]
            guard heldZones.isEmpty || !heldZones.contains(node.zone) else { continue }
            let zone = index.zoneOf[member]
            if zoneSlots[zone].reachable == 0 {
                // Nothing in the zone answers: one node tries for all of them.
                guard zoneSlots[zone].rejoinsInFlight == 0, now >= zoneSlots[zone].nextRejoin ?? now else { continue }
            }
            zoneSlots[zone].rejoinsInFlight += 1
            nodeSlots[member].busy = true
            nodeSlots[member].rejoining = true
            nodeSlots[member].nextRejoin = now + settings.retryPause
            actions.append(.rejoin(node, primary: shard.primary, rewind: shard.needsRewind.contains(node), token: token))
        }
    }
}
