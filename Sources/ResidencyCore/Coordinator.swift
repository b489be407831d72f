/// The coordinator's decisions as a state machine: events in, actions out. The Runtime
/// (against real PostgreSQL) and later the simulator carry the actions out and report back
/// with events; nothing here does I/O or reads a clock.
///
/// Only a leader acts: every action carries the lease token it was decided under, and the
/// Runtime carries it out only after a journal write checked against that token succeeded.
public struct Coordinator: Sendable {
    public enum Event: Hashable, Sendable {
        case leaseAcquired(token: Int64)
        case leaseLost
        case probed(NodeID, NodeProbe)
        /// Time passed.
        case tick
        case stepDone(ShardID, ShardOperation.Step)
        case stepFailed(ShardID, ShardOperation.Step, reason: String)
        case switchoverRequested(ShardID, to: ZoneID)
        /// An operator overrides rule 2 (two zones down): promote this zone's node anyway.
        case failoverForced(ShardID, to: ZoneID)
        case zoneHeld(ZoneID)
        case zoneReleased(ZoneID)
        case rejoined(NodeID)
        case rejoinFailed(NodeID, reason: String)
        case fenced(NodeID)
        case synchronousStandbysSet(NodeID)
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
        /// Record that `node`, marked for rewind, already streams from the primary (then `.rejoined`).
        case confirmRejoined(NodeID, token: Int64)
        /// Give `primary` the synchronous set `standbys` (`ANY 1 (...)`).
        case setSynchronousStandbys(NodeID, standbys: [NodeID], token: Int64)
        /// Append to the event log.
        case record(CoordinatorRecord)
    }

    public let topology: Topology
    public private(set) var shards: [ShardID: ShardState]
    public private(set) var heldZones: Set<ZoneID>
    public private(set) var token: Int64?

    private var lastReachable: [NodeID: Instant] = [:]
    private var latest: [NodeID: (at: Instant, probe: NodeProbe)] = [:]
    private var busy: Set<NodeID> = []
    private var stepInFlight: Set<ShardID> = []
    private var retryAt: [ShardID: Instant] = [:]
    private var nextRejoin: [NodeID: Instant] = [:]
    private var refused: [ShardID: FailoverRules.Refusal] = [:]
    private var refusedSince: [ShardID: Instant] = [:]

    /// How long a node must stay unreachable before the coordinator restarts it.
    public static let rejoinAfter: Duration = .seconds(1)
    /// Pause between two attempts at the same failing step or rejoin.
    public static let retryPause: Duration = .seconds(1)
    /// How long a promotion must have stayed refused before the primary is restarted in
    /// place: a refusal can be transient (a standby's probe is late), and a primary
    /// restarted while a promotion is about to happen would be a former primary at once.
    public static let restartInPlaceAfter: Duration = .seconds(5)

    public init(topology: Topology, shards: [ShardID: ShardState], heldZones: Set<ZoneID>) {
        self.topology = topology
        self.shards = shards
        self.heldZones = heldZones
    }

    public var isLeader: Bool { token != nil }

    /// Whether the last probe of `node` answered, within `failoverAfter` of `now`.
    public func hasFreshReport(_ node: NodeID, now: Instant) -> Bool {
        guard let (at, probe) = latest[node], case .reachable = probe else { return false }
        return now - at < topology.failover.failoverAfter
    }

    public mutating func handle(_ event: Event, now: Instant) -> [Action] {
        switch event {
        case let .leaseAcquired(token):
            self.token = token
            // Time spent as a follower proves nothing: every node gets a fresh grace period.
            for node in topology.nodes { lastReachable[node] = now }
            busy = []
            stepInFlight = []
            var actions: [Action] = [.record(CoordinatorRecord(kind: "coordinator.leader", detail: "lease token \(token)"))]
            for (id, shard) in shards.sorted(by: { $0.key < $1.key }) {
                if let operation = shard.operation {
                    stepInFlight.insert(id)
                    actions.append(.record(CoordinatorRecord(
                        kind: "\(operation.kind.rawValue).resumed", shard: id, epoch: operation.epoch, from: operation.from,
                        to: operation.to, detail: "resuming at step \(operation.step.rawValue)")))
                    actions.append(.perform(operation, token: token))
                }
            }
            return actions

        case .leaseLost:
            token = nil
            return []

        case let .probed(node, probe):
            latest[node] = (now, probe)
            if case .reachable = probe { lastReachable[node] = now }
            guard let token, case let .reachable(report) = probe, let shard = shards[node.shard] else {
                return evaluate(node.shard, now: now)
            }
            if FailoverRules.isStaleFormerPrimary(node, report: report, currentPrimary: shard.primary),
               shard.operation == nil || shard.operation?.step == .fence || shard.operation?.step == .done,
               !busy.contains(node)
            {
                busy.insert(node)
                shards[node.shard]?.needsRewind.insert(node)
                return [
                    .record(CoordinatorRecord(kind: "fence", shard: node.shard, epoch: shard.epoch, from: node, to: shard.primary,
                                              detail: "former primary answers as a primary; fencing it before anything else")),
                    .fence(node, token: token),
                ]
            }
            // A node still marked for rewind that streams from the current primary has been
            // rewound (it could not follow a diverged timeline): a journal write lost after
            // the rejoin acted (lease expired meanwhile) must not bar it from promotion forever.
            if shard.needsRewind.contains(node), !busy.contains(node), report.inRecovery,
               report.upstreamPort != nil, report.upstreamPort == topology.port(of: shard.primary) {
                busy.insert(node)
                return [.confirmRejoined(node, token: token)]
            }
            return evaluate(node.shard, now: now)

        case .tick:
            return shards.keys.sorted().flatMap { evaluate($0, now: now) }

        case let .stepDone(id, step):
            stepInFlight.remove(id)
            guard var shard = shards[id], var operation = shard.operation, operation.step == step else { return [] }
            var actions: [Action] = []
            if step == .epoch {
                shard.epoch = operation.epoch
                shard.primary = operation.to
                shard.synchronousSet = operation.standbys
                if operation.kind != .switchover { shard.needsRewind.insert(operation.from) }
                refused[id] = nil
            }
            if step == .fence, operation.kind == .switchover { shard.needsRewind.insert(operation.from) }
            operation.step = step.next(for: operation.kind)
            if operation.step == .done {
                shard.operation = nil
                shards[id] = shard
                return [.record(CoordinatorRecord(
                    kind: "\(operation.kind.rawValue).done", shard: id, epoch: operation.epoch, from: operation.from,
                    to: operation.to, detail: "\(operation.to) is primary of \(id) at epoch \(operation.epoch)"))]
            }
            shard.operation = operation
            shards[id] = shard
            if let token {
                stepInFlight.insert(id)
                actions.append(.perform(operation, token: token))
            }
            return actions

        case let .stepFailed(id, step, reason):
            stepInFlight.remove(id)
            guard var shard = shards[id], let operation = shard.operation else { return [] }
            var actions: [Action] = [.record(CoordinatorRecord(
                kind: "\(operation.kind.rawValue).step-failed", shard: id, epoch: operation.epoch, from: operation.from,
                to: operation.to, detail: "\(step.rawValue): \(reason)"))]
            if step == .drain {
                // Nothing changed yet (the Runtime restored the old primary's synchronous set).
                shard.operation = nil
                shards[id] = shard
                actions.append(.record(CoordinatorRecord(kind: "switchover.aborted", shard: id, epoch: shard.epoch, from: operation.from, to: operation.to, detail: reason)))
            } else {
                retryAt[id] = now + Self.retryPause
            }
            return actions

        case let .switchoverRequested(id, zone):
            return startOperation(.switchover, shard: id, zone: zone, now: now)

        case let .failoverForced(id, zone):
            return startOperation(.forcedFailover, shard: id, zone: zone, now: now)

        case let .zoneHeld(zone):
            heldZones.insert(zone)
            return []

        case let .zoneReleased(zone):
            heldZones.remove(zone)
            return []

        case let .rejoined(node):
            busy.remove(node)
            // It just started: give the probes a grace period before judging it again.
            lastReachable[node] = now
            guard var shard = shards[node.shard] else { return [] }
            shard.needsRewind.remove(node)
            var actions: [Action] = [.record(CoordinatorRecord(kind: "rejoin.done", shard: node.shard, epoch: shard.epoch, from: node, to: shard.primary, detail: "\(node) streams from \(shard.primary)"))]
            if !shard.synchronousSet.contains(node), node != shard.primary, let token {
                shard.synchronousSet = shard.nodes(in: topology).filter { shard.synchronousSet.contains($0) || $0 == node }
                actions.append(.setSynchronousStandbys(shard.primary, standbys: shard.synchronousSet, token: token))
            }
            shards[node.shard] = shard
            return actions

        case let .rejoinFailed(node, reason):
            busy.remove(node)
            nextRejoin[node] = now + Self.retryPause
            return [.record(CoordinatorRecord(kind: "rejoin.failed", shard: node.shard, epoch: shards[node.shard]?.epoch, from: node, detail: reason))]

        case let .fenced(node):
            busy.remove(node)
            return []

        case let .synchronousStandbysSet(node):
            busy.remove(node)
            return []
        }
    }

    // MARK: decisions

    private mutating func evaluate(_ id: ShardID, now: Instant) -> [Action] {
        guard let token, let shard = shards[id], let definition = topology.shard(id) else { return [] }
        if let operation = shard.operation {
            if !stepInFlight.contains(id), let retry = retryAt[id], now >= retry {
                retryAt[id] = nil
                stepInFlight.insert(id)
                return [.perform(operation, token: token)]
            }
            return []
        }
        if primaryHasFailed(shard, now: now) {
            let actions = failOver(id, shard: shard, definition: definition, now: now)
            guard shards[id]?.operation == nil, refused[id] != nil else { return actions }
            // Promotion refused (two zones, or the whole region, down): nothing may be
            // promoted, so what comes back comes back as it was: standbys at once, the
            // primary in place once the refusal has lasted.
            let settled = now - (refusedSince[id] ?? now) >= Self.restartInPlaceAfter
            return actions + rejoins(shard, definition: definition, now: now, token: token, includingPrimary: settled)
        }
        refused[id] = nil
        refusedSince[id] = nil
        return rejoins(shard, definition: definition, now: now, token: token)
    }

    /// The primary has not answered for `failoverAfter`, and no standby heard from it lately.
    private func primaryHasFailed(_ shard: ShardState, now: Instant) -> Bool {
        let seen = lastReachable[shard.primary] ?? now
        guard now - seen >= topology.failover.failoverAfter else { return false }
        let primaryPort = topology.port(of: shard.primary)
        for node in topology.shard(shard.primary.shard)?.nodes ?? [] where node != shard.primary {
            if let (at, probe) = latest[node], at >= seen, case let .reachable(report) = probe,
               report.upstreamPort != nil, report.upstreamPort == primaryPort,
               let since = report.sinceUpstreamMessage, since < topology.failover.failoverAfter
            {
                return false
            }
        }
        return true
    }

    private mutating func failOver(_ id: ShardID, shard: ShardState, definition: Shard, now: Instant) -> [Action] {
        let seen = lastReachable[shard.primary] ?? now
        var reachable: [NodeID: NodeReport] = [:]
        var fresh: Set<NodeID> = []
        for node in definition.nodes where FailoverRules.isCandidate(node, for: definition, primary: shard.primary, in: topology) {
            guard !heldZones.contains(node.zone), !shard.needsRewind.contains(node), let (at, probe) = latest[node],
                  case let .reachable(report) = probe, report.inRecovery, now - at < topology.failover.failoverAfter
            else { continue }
            reachable[node] = report
            if at > seen { fresh.insert(node) }
        }
        switch FailoverRules.provenCandidate(synchronousSet: shard.synchronousSet, reachable: reachable, fresh: fresh) {
        case let .success(candidate):
            let remaining = definition.nodes.filter { reachable[$0] != nil && $0 != candidate }
            let operation = ShardOperation(
                kind: .failover, shard: id, from: shard.primary, to: candidate, epoch: shard.epoch + 1,
                standbys: FailoverRules.newSynchronousSet(for: candidate, of: definition, remaining: remaining),
                step: ShardOperation.Step.first(for: .failover))
            return begin(operation, detail: "primary \(shard.primary) unreachable for \(now - seen); promoting \(candidate)")
        case .failure(.awaitingFreshProbes):
            return []
        case let .failure(refusal):
            guard refused[id] != refusal else { return [] }
            if refused[id] == nil { refusedSince[id] = now }
            refused[id] = refusal
            return [.record(CoordinatorRecord(
                kind: "failover.refused", shard: id, epoch: shard.epoch, from: shard.primary,
                detail: "\(refusal); the shard stays without a primary (an operator may force: residency failover \(id) --to ZONE --force)"))]
        }
    }

    private mutating func startOperation(_ kind: ShardOperation.Kind, shard id: ShardID, zone: ZoneID, now: Instant) -> [Action] {
        func refuse(_ why: String) -> [Action] {
            [.record(CoordinatorRecord(kind: "\(kind.rawValue).refused", shard: id, epoch: shards[id]?.epoch, detail: why))]
        }
        guard token != nil else { return refuse("this coordinator does not hold the lease") }
        guard let shard = shards[id], let definition = topology.shard(id) else { return refuse("unknown shard \(id)") }
        guard shard.operation == nil else { return refuse("an operation is in progress on \(id)") }
        let target = NodeID(shard: id, zone: zone)
        guard FailoverRules.isCandidate(target, for: definition, primary: shard.primary, in: topology) else {
            return refuse("\(target) is not a standby of \(id) in region \(definition.region)")
        }
        guard !heldZones.contains(zone), let (at, probe) = latest[target], case let .reachable(report) = probe, report.inRecovery,
              now - at < topology.failover.failoverAfter, !shard.needsRewind.contains(target)
        else { return refuse("\(target) is not a reachable, streaming standby") }
        let remaining = definition.nodes.filter { node in
            guard node != target, node != shard.primary, let (seen, probe) = latest[node], case .reachable = probe else { return false }
            return now - seen < topology.failover.failoverAfter
        }
        let operation = ShardOperation(
            kind: kind, shard: id, from: shard.primary, to: target, epoch: shard.epoch + 1,
            standbys: FailoverRules.newSynchronousSet(for: target, of: definition, remaining: remaining),
            step: ShardOperation.Step.first(for: kind))
        let detail = kind == .forcedFailover
            ? "FORCED by an operator: rule 2 not proved; \(target) may lack acknowledged commits"
            : "planned: \(shard.primary) -> \(target)"
        return begin(operation, detail: detail)
    }

    private mutating func begin(_ operation: ShardOperation, detail: String) -> [Action] {
        guard let token else { return [] }
        shards[operation.shard]?.operation = operation
        stepInFlight.insert(operation.shard)
        return [
            .record(CoordinatorRecord(kind: "\(operation.kind.rawValue).started", shard: operation.shard, epoch: operation.epoch,
                                      from: operation.from, to: operation.to, detail: detail)),
            .perform(operation, token: token),
        ]
    }

    /// Members that are down (and not held down by an operator) are brought back as
    /// standbys; with `includingPrimary`, a primary whose promotion was refused is restarted
    /// in place (`.rejoin(primary, primary: primary, ...)`).
    private mutating func rejoins(_ shard: ShardState, definition: Shard, now: Instant, token: Int64, includingPrimary: Bool = false) -> [Action] {
        var actions: [Action] = []
        for node in definition.nodes where (includingPrimary || node != shard.primary) && !heldZones.contains(node.zone) && !busy.contains(node) {
            let seen = lastReachable[node] ?? now
            guard now - seen >= Self.rejoinAfter, now >= nextRejoin[node] ?? now, case .unreachable? = latest[node]?.probe else { continue }
            busy.insert(node)
            nextRejoin[node] = now + Self.retryPause
            actions.append(.rejoin(node, primary: shard.primary, rewind: shard.needsRewind.contains(node), token: token))
        }
        return actions
    }
}

extension ShardState {
    func nodes(in topology: Topology) -> [NodeID] { topology.shard(primary.shard)?.nodes ?? [] }
}
