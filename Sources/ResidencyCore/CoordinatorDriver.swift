/// The coordinator's loop as a step function: `step(now:inputs:)` takes what happened since
/// the last step (lease changes, probe results, held zones, operator requests, finished
/// effects) and returns what to do (event-log records, request answers, effects to start).
/// The real service (`CoordinatorService`) and a simulator call it the same way; it does
/// no I/O and reads no clock.
///
/// Effects run in lanes: one lane per shard (its failover or switchover steps, fencing, its
/// primary's synchronous set) and one per node (rejoins). A lane runs one effect at a time,
/// in order; lanes run side by side: shard lanes at most `FailoverSettings.effectConcurrency`
/// at once, node lanes (rejoins, the slow ones) at most `rejoinConcurrency` at once on slots
/// of their own. Deciding never waits for an effect: a shard whose effect stalls holds only
/// its own lane, and rejoins never take a failover's slot.
public struct CoordinatorDriver: Sendable {
    public enum Lane: Hashable, Sendable, CustomStringConvertible {
        case shard(ShardID)
        case node(NodeID)

        public var description: String {
            switch self {
            case let .shard(shard): "shard \(shard)"
            case let .node(node): "node \(node)"
            }
        }
    }

    /// One action for the Runtime to carry out; it reports back with a `Completion` of the same id.
    public struct Effect: Hashable, Sendable {
        public let id: Int
        public let lane: Lane
        public let action: Coordinator.Action
    }

    /// What came of an effect: the event for Core (`nil` when there is none), or `leaseLost`
    /// when a journal write checked against the lease token found the lease gone.
    public enum Outcome: Hashable, Sendable {
        case event(Coordinator.Event?)
        case leaseLost
    }

    public struct Completion: Hashable, Sendable {
        public let effect: Int
        public let outcome: Outcome

        public init(effect: Int, outcome: Outcome) {
            self.effect = effect
            self.outcome = outcome
        }
    }

    /// An operator's request (`residency switchover` / `failover --force`), as queued in the control store.
    public struct Request: Hashable, Sendable {
        public enum Kind: String, Hashable, Sendable {
            case switchover
            case failover
            /// `backup restore --promote`: refused while the shard's primary answers.
            case restore
            /// `backup restore --promote --force`.
            case forcedRestore = "forced-restore"
        }

        public let id: Int64
        public let kind: Kind
        public let shard: ShardID
        public let zone: ZoneID

        public init(id: Int64, kind: Kind, shard: ShardID, zone: ZoneID) {
            self.id = id
            self.kind = kind
            self.shard = shard
            self.zone = zone
        }
    }

    public struct Answer: Hashable, Sendable {
        public enum State: String, Hashable, Sendable {
            case accepted, refused, done
        }

        public let request: Int64
        public let state: State
        public let text: String
    }

    public typealias Probe = Coordinator.Probe

    public enum Lease: Hashable, Sendable {
        /// The lease is ours with `token`; the control store held `snapshot` when it was read.
        case acquired(token: Int64, snapshot: ControlSnapshot)
        case lost
    }

    public struct Inputs: Sendable {
        public var lease: Lease?
        public var probes: [Probe]
        /// Every node not in `probes` was probed at this instant too and answered as its
        /// latest probe did (`Coordinator.Event.probesRepeated`): a simulator sends only
        /// what changed in a round.
        public var probesUnchangedAt: Instant?
        /// The zones operators hold down, when the control store was read this step.
        public var heldZones: Set<ZoneID>?
        /// The requests waiting for an answer, when the control store was read this step.
        public var requests: [Request]?
        public var completions: [Completion]

        public init(lease: Lease? = nil, probes: [Probe] = [], probesUnchangedAt: Instant? = nil, heldZones: Set<ZoneID>? = nil,
                    requests: [Request]? = nil, completions: [Completion] = []) {
            self.lease = lease
            self.probes = probes
            self.probesUnchangedAt = probesUnchangedAt
            self.heldZones = heldZones
            self.requests = requests
            self.completions = completions
        }
    }

    public struct Outputs: Hashable, Sendable {
        public var records: [CoordinatorRecord] = []
        public var answers: [Answer] = []
        /// Effects to start now, each in its lane's order.
        public var effects: [Effect] = []
        /// A finished effect found the lease gone: this driver leads no more.
        public var leaseLost = false

        public init() {}
    }

    /// A request whose target the probes have not seen answer yet (a coordinator that just
    /// took over) waits this long for them before Core decides it.
    public static let requestWaitsForProbes: Duration = .seconds(5)

    public let topology: Topology
    public private(set) var coordinator: Coordinator?
    private var nextID = 0
    private var queues: [Lane: [Effect]] = [:]
    /// Lanes with queued effects, in the order they got their first one.
    private var waiting: [Lane] = []
    /// Effects started and not completed, with the token they were decided under (their
    /// outcome is dropped when the lease changed meanwhile; the lane stays busy until then).
    private var running: [Int: (lane: Lane, token: Int64?)] = [:]
    private var busyLanes: Set<Lane> = []
    /// Shard-lane effects running now.
    public private(set) var runningSteps = 0
    /// Node-lane effects (rejoins) running now.
    public private(set) var runningRejoins = 0
    private var firstSeen: [Int64: Instant] = [:]
    private var accepted: [ShardID: Int64] = [:]

    public init(topology: Topology) {
        self.topology = topology
    }

    public var token: Int64? { coordinator?.token }

    public mutating func step(now: Instant, inputs: Inputs) -> Outputs {
        var out = Outputs()
        switch inputs.lease {
        case let .acquired(token, snapshot)?:
            var fresh = Coordinator(topology: topology, restoring: snapshot)
            dropQueued()
            firstSeen = [:]
            accepted = [:]
            let actions = fresh.handle(.leaseAcquired(token: token), now: now)
            coordinator = fresh
            route(actions, into: &out)
        case .lost?:
            lose()
        case nil:
            break
        }
        for completion in inputs.completions {
            guard let (lane, token) = running.removeValue(forKey: completion.effect) else { continue }
            busyLanes.remove(lane)
            if case .node = lane { runningRejoins -= 1 } else { runningSteps -= 1 }
            guard coordinator?.token == token else { continue }
            switch completion.outcome {
            case .leaseLost:
                lose()
                out.leaseLost = true
            case let .event(event?):
                // Mutated in place (`coordinator?.`): a copy would copy every shard's state.
                route(coordinator?.handle(event, now: now) ?? [], into: &out)
            case .event(nil):
                break
            }
        }
        // Moved out (`take`): `current` is the only owner, no copy of its state.
        guard var current = coordinator.take() else { return out }
        defer { coordinator = current }
        guard current.isLeader else { return out }
        var actions: [Coordinator.Action] = []
        if !inputs.probes.isEmpty {
            let probes = inputs.probes.sorted { $0.at < $1.at }.map { Probe(node: $0.node, probe: $0.probe, at: min($0.at, now)) }
            actions += current.handle(.probes(probes), now: now)
        }
        if let at = inputs.probesUnchangedAt {
            actions += current.handle(.probesRepeated(at: min(at, now)), now: now)
        }
        if let held = inputs.heldZones {
            for zone in held.subtracting(current.heldZones).sorted() { actions += current.handle(.zoneHeld(zone), now: now) }
            for zone in current.heldZones.subtracting(held).sorted() { actions += current.handle(.zoneReleased(zone), now: now) }
        }
        if let requests = inputs.requests {
            actions += decide(requests, on: &current, now: now, into: &out)
        }
        actions += current.handle(.tick, now: now)
        route(actions, into: &out)
        for (shard, id) in accepted.sorted(by: { $0.value < $1.value }) where current.state(of: shard)?.operation == nil {
            out.answers.append(Answer(request: id, state: .done, text: "\(current.state(of: shard)?.primary.description ?? "?") is primary"))
            accepted[shard] = nil
        }
        dispatch(into: &out, token: current.token)
        return out
    }

    /// The earliest instant after `now` at which time alone could make this driver act
    /// (`Coordinator.nextWake`, and a request's wait for probes running out).
    public func nextWake(after now: Instant) -> Instant? {
        let waits = firstSeen.values.map { $0 + Self.requestWaitsForProbes }.filter { $0 > now }
        return ([coordinator?.nextWake(after: now)].compactMap { $0 } + waits).min()
    }

    // MARK: requests

    /// The request policy: each request is decided once; one whose target has not been seen
    /// answering waits for the probes, `requestWaitsForProbes` at most.
    private mutating func decide(_ requests: [Request], on current: inout Coordinator, now: Instant, into out: inout Outputs) -> [Coordinator.Action] {
        let pending = Set(requests.map(\.id))
        firstSeen = firstSeen.filter { pending.contains($0.key) }
        var actions: [Coordinator.Action] = []
        for request in requests.sorted(by: { $0.id < $1.id }) where !accepted.values.contains(request.id) {
            let seen = firstSeen[request.id] ?? now
            firstSeen[request.id] = seen
            let target = NodeID(shard: request.shard, zone: request.zone)
            if !current.hasFreshReport(target, now: now), now - seen < Self.requestWaitsForProbes { continue }
            let event: Coordinator.Event = switch request.kind {
            case .failover: .failoverForced(request.shard, to: request.zone)
            case .switchover: .switchoverRequested(request.shard, to: request.zone)
            case .restore: .restoreRequested(request.shard, to: request.zone, force: false)
            case .forcedRestore: .restoreRequested(request.shard, to: request.zone, force: true)
            }
            let decided = current.handle(event, now: now)
            let refusal = decided.compactMap { action -> String? in
                if case let .record(record) = action, record.kind.hasSuffix(".refused") { return record.detail }
                return nil
            }.first
            if let refusal {
                out.answers.append(Answer(request: request.id, state: .refused, text: refusal))
            } else {
                out.answers.append(Answer(request: request.id, state: .accepted, text: ""))
                accepted[request.shard] = request.id
            }
            firstSeen[request.id] = nil
            actions += decided
        }
        return actions
    }

    // MARK: lanes

    private static func lane(of action: Coordinator.Action) -> Lane? {
        switch action {
        case let .perform(operation, _): .shard(operation.shard)
        case let .fence(node, _): .shard(node.shard)
        case let .setSynchronousStandbys(primary, _, _): .shard(primary.shard)
        case let .rejoin(node, _, _, _), let .confirmRejoined(node, _, _): .node(node)
        case .record: nil
        }
    }

    private mutating func route(_ actions: [Coordinator.Action], into out: inout Outputs) {
        for action in actions {
            guard let lane = Self.lane(of: action) else {
                if case let .record(record) = action { out.records.append(record) }
                continue
            }
            nextID += 1
            if queues[lane, default: []].isEmpty { waiting.append(lane) }
            queues[lane, default: []].append(Effect(id: nextID, lane: lane, action: action))
        }
    }

    /// Starts the first queued effect of every idle lane, in the order the lanes got work,
    /// while its kind has a free slot.
    private mutating func dispatch(into out: inout Outputs, token: Int64?) {
        let settings = topology.failover
        guard !waiting.isEmpty else { return }
        for lane in waiting {
            if runningSteps >= settings.effectConcurrency, runningRejoins >= settings.rejoinConcurrency { break }
            let isShard: Bool = if case .shard = lane { true } else { false }
            guard !busyLanes.contains(lane),
                  isShard ? runningSteps < settings.effectConcurrency : runningRejoins < settings.rejoinConcurrency,
                  var queue = queues[lane], !queue.isEmpty
            else { continue }
            let effect = queue.removeFirst()
            queues[lane] = queue.isEmpty ? nil : queue
            running[effect.id] = (lane, token)
            busyLanes.insert(lane)
            if isShard { runningSteps += 1 } else { runningRejoins += 1 }
            out.effects.append(effect)
        }
        waiting = waiting.filter { queues[$0] != nil }
    }

    private mutating func dropQueued() {
        queues = [:]
        waiting = []
    }

    private mutating func lose() {
        coordinator = nil
        dropQueued()
        firstSeen = [:]
        accepted = [:]
    }
}
