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
        /// Time passed.
        case tick
        case stepDone(ShardID, ShardOperation.Step)
        case stepFailed(ShardID, ShardOperation.Step, EffectFailure)
        case switchoverRequested(ShardID, to: ZoneID)
        /// An operator overrides rule 2 (two zones down): promote this zone's node anyway.
        case failoverForced(ShardID, to: ZoneID)
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
    public private(set) var shards: [ShardID: ShardState]
    public private(set) var heldZones: Set<ZoneID>
    public private(set) var token: Int64?

    private let settings: FailoverSettings
    /// Lookups by id: `Topology`'s are linear, and a region may hold thousands of shards.
    private let definitions: [ShardID: Shard]
    private let ports: [NodeID: Int]
    /// Every shard, in id order: the order of a tick's judgements.
    private let order: [ShardID]
    private var lastNow: Instant?
    private var lastReachable: [NodeID: Instant] = [:]
    private var latest: [NodeID: (at: Instant, probe: NodeProbe)] = [:]
    private var busy: Set<NodeID> = []
    private var stepInFlight: Set<ShardID> = []
    private var retryAt: [ShardID: Instant] = [:]
    private var nextRejoin: [NodeID: Instant] = [:]
    private var refused: [ShardID: FailoverRules.Refusal] = [:]
    private var refusedSince: [ShardID: Instant] = [:]
    /// Shards whose primary must be given `synchronousSet` (a member rejoined, or the last
    /// attempt failed), with the earliest time to try; sent only while no operation runs.
    private var synchronousSetDue: [ShardID: Instant] = [:]
    private var synchronousSetInFlight: Set<ShardID> = []
    private var nextFence: [NodeID: Instant] = [:]

    public init(topology: Topology, shards: [ShardID: ShardState], heldZones: Set<ZoneID>) {
        self.topology = topology
        self.shards = shards
        self.heldZones = heldZones
        settings = topology.failover
        definitions = Dictionary(topology.shards.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        order = shards.keys.sorted()
        ports = Dictionary(topology.regions.flatMap(\.nodePorts).map { ($0.node, $0.port) }, uniquingKeysWith: { a, _ in a })
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
        guard let (at, probe) = latest[node], case .reachable = probe else { return false }
        return now - at < settings.failoverAfter
    }

    public mutating func handle(_ event: Event, now: Instant) -> [Action] {
        if let lastNow { precondition(now >= lastNow, "Coordinator: now went back from \(lastNow) to \(now)") }
        lastNow = now
        switch event {
        case let .leaseAcquired(token):
            self.token = token
            // Time spent as a follower proves nothing: every node gets a fresh grace period.
            for node in topology.nodes { lastReachable[node] = now }
            busy = []
            stepInFlight = []
            synchronousSetInFlight = []
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

        case let .probed(node, probe, at):
            return observe(Probe(node: node, probe: probe, at: at), now: now) + evaluate(node.shard, now: now)

        case let .probes(batch):
            var actions: [Action] = []
            var touched: Set<ShardID> = []
            for probe in batch {
                actions += observe(probe, now: now)
                touched.insert(probe.node.shard)
            }
            for id in touched.sorted() { actions += evaluate(id, now: now) }
            return actions

        case .tick:
            var actions: [Action] = []
            for id in order { actions += evaluate(id, now: now) }
            return actions

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

        case let .stepFailed(id, step, failure):
            stepInFlight.remove(id)
            guard var shard = shards[id], let operation = shard.operation, operation.step == step else { return [] }
            let reason = failure.description
            var actions: [Action] = [.record(CoordinatorRecord(
                kind: "\(operation.kind.rawValue).step-failed", shard: id, epoch: operation.epoch, from: operation.from,
                to: operation.to, detail: "\(step.rawValue): \(reason); again in \(settings.retryPause)"))]
            if step == .drain {
                // Nothing changed yet (the Runtime restored the old primary's synchronous set).
                shard.operation = nil
                shards[id] = shard
                actions.append(.record(CoordinatorRecord(kind: "switchover.aborted", shard: id, epoch: shard.epoch, from: operation.from, to: operation.to, detail: reason)))
            } else {
                retryAt[id] = now + settings.retryPause
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

        case let .rejoined(node, following):
            busy.remove(node)
            // It just started: give the probes a grace period before judging it again.
            lastReachable[node] = now
            guard var shard = shards[node.shard] else { return [] }
            guard following == shard.primary || node == shard.primary else {
                // The shard failed over while the rejoin ran: it follows a former primary.
                // Rejoin it again (a running standby is repointed over SQL) at once.
                nextRejoin[node] = nil
                guard let token, node != shard.primary else { return [] }
                busy.insert(node)
                return [
                    .record(CoordinatorRecord(kind: "rejoin.outdated", shard: node.shard, epoch: shard.epoch, from: node, to: shard.primary,
                                              detail: "\(node) was rejoined to \(following), no longer the primary; repointing it to \(shard.primary)")),
                    .rejoin(node, primary: shard.primary, rewind: shard.needsRewind.contains(node), token: token),
                ]
            }
            shard.needsRewind.remove(node)
            let actions: [Action] = [.record(CoordinatorRecord(kind: "rejoin.done", shard: node.shard, epoch: shard.epoch, from: node, to: shard.primary, detail: "\(node) streams from \(shard.primary)"))]
            if !shard.synchronousSet.contains(node), node != shard.primary {
                shard.synchronousSet = shard.nodes(in: definitions).filter { shard.synchronousSet.contains($0) || $0 == node }
                synchronousSetDue[node.shard] = now
            }
            shards[node.shard] = shard
            return actions + evaluate(node.shard, now: now)

        case let .rejoinFailed(node, failure):
            busy.remove(node)
            nextRejoin[node] = now + settings.retryPause
            return [.record(CoordinatorRecord(kind: "rejoin.failed", shard: node.shard, epoch: shards[node.shard]?.epoch, from: node,
                                              detail: "\(failure); again in \(settings.retryPause) at the earliest"))]

        case let .fenced(node):
            busy.remove(node)
            return []

        case let .fenceFailed(node, failure):
            // The next probe that still finds it a primary fences it again, after the pause.
            busy.remove(node)
            nextFence[node] = now + settings.retryPause
            return [.record(CoordinatorRecord(kind: "fence.failed", shard: node.shard, epoch: shards[node.shard]?.epoch, from: node,
                                              detail: "\(failure); again in \(settings.retryPause) if it still answers as a primary"))]

        case let .synchronousStandbysSet(primary, standbys):
            synchronousSetInFlight.remove(primary.shard)
            // A member that rejoined meanwhile asks for another change.
            if let shard = shards[primary.shard], shard.primary != primary || shard.synchronousSet != standbys {
                synchronousSetDue[primary.shard] = synchronousSetDue[primary.shard] ?? now
            }
            return evaluate(primary.shard, now: now)

        case let .synchronousStandbysFailed(primary, failure):
            synchronousSetInFlight.remove(primary.shard)
            synchronousSetDue[primary.shard] = now + settings.retryPause
            return [.record(CoordinatorRecord(kind: "synchronous-standbys.failed", shard: primary.shard, epoch: shards[primary.shard]?.epoch,
                                              from: primary, detail: "\(failure); again in \(settings.retryPause)"))]
        }
    }

    // MARK: decisions

    /// Records a probe (the newest of a node counts); fences a former primary that answers
    /// as a primary, and confirms a rewound node that already streams from the primary.
    private mutating func observe(_ result: Probe, now: Instant) -> [Action] {
        let node = result.node
        if let (previous, _) = latest[node], previous > result.at { return [] }
        latest[node] = (result.at, result.probe)
        if case .reachable = result.probe { lastReachable[node] = max(result.at, lastReachable[node] ?? result.at) }
        guard let token, case let .reachable(report) = result.probe, let shard = shards[node.shard] else { return [] }
        if FailoverRules.isStaleFormerPrimary(node, report: report, currentPrimary: shard.primary),
           shard.operation == nil || shard.operation?.step == .fence || shard.operation?.step == .done,
           !busy.contains(node), now >= nextFence[node] ?? now
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
           report.upstreamPort != nil, report.upstreamPort == ports[shard.primary] {
            busy.insert(node)
            return [.confirmRejoined(node, primary: shard.primary, token: token)]
        }
        return []
    }

    private mutating func evaluate(_ id: ShardID, now: Instant) -> [Action] {
        guard let token, let shard = shards[id], let definition = definitions[id] else { return [] }
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
            let settled = now - (refusedSince[id] ?? now) >= settings.restartInPlaceAfter
            return actions + rejoins(shard, definition: definition, now: now, token: token, includingPrimary: settled)
        }
        refused[id] = nil
        refusedSince[id] = nil
        var actions: [Action] = []
        // Never while an operation runs (returned above): a switchover's drain has just
        // stopped the old primary's acknowledgements, and giving it a set back would undo that.
        if let due = synchronousSetDue[id], now >= due, !synchronousSetInFlight.contains(id) {
            synchronousSetDue[id] = nil
            synchronousSetInFlight.insert(id)
            actions.append(.setSynchronousStandbys(shard.primary, standbys: shard.synchronousSet, token: token))
        }
        return actions + rejoins(shard, definition: definition, now: now, token: token)
    }

    /// The primary has not answered for `failoverAfter`, and no standby heard from it lately.
    private func primaryHasFailed(_ shard: ShardState, now: Instant) -> Bool {
        let seen = lastReachable[shard.primary] ?? now
        guard now - seen >= settings.failoverAfter else { return false }
        let primaryPort = ports[shard.primary]
        for node in definitions[shard.primary.shard]?.nodes ?? [] where node != shard.primary {
            if let (at, probe) = latest[node], at >= seen, case let .reachable(report) = probe,
               report.upstreamPort != nil, report.upstreamPort == primaryPort,
               let since = report.sinceUpstreamMessage, since < settings.failoverAfter
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
                  case let .reachable(report) = probe, report.inRecovery, now - at < settings.failoverAfter
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
            return begin(operation, detail: "primary \(shard.primary) unreachable for \((now - seen).inMilliseconds) ms; promoting \(candidate)")
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
        guard let shard = shards[id], let definition = definitions[id] else { return refuse("unknown shard \(id)") }
        guard shard.operation == nil else { return refuse("an operation is in progress on \(id)") }
        let target = NodeID(shard: id, zone: zone)
        guard FailoverRules.isCandidate(target, for: definition, primary: shard.primary, in: topology) else {
            return refuse("\(target) is not a standby of \(id) in region \(definition.region)")
        }
        guard !heldZones.contains(zone), let (at, probe) = latest[target], case let .reachable(report) = probe, report.inRecovery,
              now - at < settings.failoverAfter, !shard.needsRewind.contains(target)
        else { return refuse("\(target) is not a reachable, streaming standby") }
        let remaining = definition.nodes.filter { node in
            guard node != target, node != shard.primary, let (seen, probe) = latest[node], case .reachable = probe else { return false }
            return now - seen < settings.failoverAfter
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
            guard now - seen >= settings.rejoinAfter, now >= nextRejoin[node] ?? now, case .unreachable? = latest[node]?.probe else { continue }
            busy.insert(node)
            nextRejoin[node] = now + settings.retryPause
            actions.append(.rejoin(node, primary: shard.primary, rewind: shard.needsRewind.contains(node), token: token))
        }
        return actions
    }
}

extension ShardState {
    func nodes(in definitions: [ShardID: Shard]) -> [NodeID] { definitions[primary.shard]?.nodes ?? [] }
}
