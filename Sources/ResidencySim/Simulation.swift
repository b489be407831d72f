import Dispatch
import ResidencyCore
import Synchronization

/// A deterministic discrete-event simulation of one topology under seeded random faults,
/// with the real Core deciding: `CoordinatorDriver.step` gets simulated probes and the
/// outcomes of its effects, which `SimulatedShards` carries out after simulated durations.
/// Clients write to every shard and record acknowledgements; checkers run on every
/// acknowledgement and promotion. One seed, one `SeededRandom`, no clock, no dictionary
/// iteration that reaches the output: the same seed gives byte-identical results.
public struct Simulation {
    public struct Settings: Sendable {
        public var duration: Duration = .seconds(120)
        public var writeInterval: Duration = .milliseconds(50)
        public var faults = 3
        /// Quiet time after a fault heals before the next may start, and before the end.
        public var settle: Duration = .seconds(20)
        /// How long a dead coordinator's lease lasts before a successor takes over.
        public var leaseTTL: Duration = .seconds(3)
        /// Faults to inject instead of drawing them from the seed.
        public var schedule: [Fault]?
        /// Test-only: carry one rule out wrongly, to prove the checkers catch it.
        public var broken: BrokenRule?
        /// Clients write to every shard every `writeInterval` and record acknowledgements.
        /// Without them the clock jumps over quiet time (`simulate sla`); availability is
        /// tracked either way.
        public var clients = true
        /// Zone faults are held (as a drill holds the zone it took down): the coordinator
        /// neither promotes nor rejoins there until the fault ends.
        public var holdZones = true
        /// Every effect's simulated duration is multiplied by it (calibration against real drills).
        public var effectScale = 1.0
        /// Shards that may end the run without a primary (a scenario's `expect: unavailable`).
        public var mayStayDown: Set<ShardID> = []
        /// Every shard a fault hit acknowledges again within its bound (`SimulationEngine.rtoBound`):
        /// true where faults come one zone at a time (random runs); a drill file may lose two.
        public var checkRecoveryBounds = true
        /// A residency move during the run, decided by Core's `MoveDriver`.
        public var move: MoveOrder?
        /// More moves (each of a tenant of its own); `move` comes first.
        public var moves: [MoveOrder] = []
        /// A zone fault that strikes when the move journals a phase.
        public var moveFault: MoveFault?
        /// Without `move`: a move drawn from the seed, between two shards of different regions
        /// that a realm lets a tenant move between, started in the first half of the run.
        public var randomMove = false

        public init() {}
    }

    /// A move of a tenant (`sim-mover`, writing every `writeInterval` from the start) on
    /// shard `from` to the realm and region of shard `to`, started at `atMilliseconds`.
    public struct MoveOrder: Sendable, Equatable {
        public let from: ShardID
        public let to: ShardID
        public let atMilliseconds: Int
        /// The realm it moves to (default: one holding `to`'s region and not `from`'s).
        public var toRealm: RealmID?
        /// How it must end (a drill's `expect`); checked at the end of the run.
        public var expect: Scenario.MoveOutcome = .ended

        public init(from: ShardID, to: ShardID, atMilliseconds: Int, toRealm: RealmID? = nil, expect: Scenario.MoveOutcome = .ended) {
            self.from = from
            self.to = to
            self.atMilliseconds = atMilliseconds
            self.toRealm = toRealm
            self.expect = expect
        }
    }

    /// A power loss (or partition) of the zone of the move's source (or target) primary,
    /// the moment the move journals `phase`.
    public struct MoveFault: Sendable, Equatable {
        public let phase: MovePhase
        public let onTarget: Bool
        public let kind: FaultKind
        public let forMilliseconds: Int
        /// Healed at this time of the run instead (a drill's next `heal`), at least 1 s after it struck.
        public var healAtMilliseconds: Int?

        public init(phase: MovePhase, onTarget: Bool, kind: FaultKind = .powerLoss, forMilliseconds: Int = 5_000, healAtMilliseconds: Int? = nil) {
            self.phase = phase
            self.onTarget = onTarget
            self.kind = kind
            self.forMilliseconds = forMilliseconds
            self.healAtMilliseconds = healAtMilliseconds
        }
    }

    /// How the run's move ended.
    public struct MoveResult: Sendable, Codable, Equatable {
        /// Every phase it journaled, in order; the last is where it ended.
        public let phases: [String]
        public let acknowledgedRows: Int
        /// The tenant's rows on the shard it is routed to at the end.
        public let rowsWhereRouted: Int
        public let routedTo: String
        /// From the write fence on the source to the tenant being writable again (switched or unfrozen).
        public let freezeMilliseconds: Int?
    }

    /// A rule the simulated Runtime breaks on purpose (`Settings.broken`).
    public enum BrokenRule: String, Sendable, CaseIterable {
        /// Promote the candidate at the epoch step, before it has its synchronous standbys
        /// (its commits are then acknowledged by it alone).
        case promoteBeforeSynchronousStandbys = "promote-before-synchronous-standbys"
        /// Acknowledge a commit without waiting for a synchronous standby.
        case acknowledgeWithoutStandby = "acknowledge-without-standby"
        /// Leave a former primary running: the failover's fence step and rule 5's fence do nothing.
        case skipFence = "skip-fence"
        /// A move's verification reports success without waiting for the target to apply
        /// everything up to the freeze, or comparing: the switch happens unverified.
        case switchBeforeVerification = "switch-before-verification"
    }

    public enum FaultKind: String, Sendable, Codable, CaseIterable {
        case powerLoss = "power-loss"
        case partition
        /// The zone's nodes frozen for less than `failover_after`: nothing may fail over.
        case shortFreeze = "short-freeze"
        /// Frozen for longer: they fail over, and thaw later still believing what they were.
        case longFreeze = "long-freeze"
        /// One node (the fault's shard's member in the zone) loses power.
        case nodeCrash = "node-crash"
        /// The zone is cut off and back again, every 0.2-1.5 s, for the fault's length.
        case flapping
        /// A zone power loss during which every promotion takes 2-6 s.
        case slowPromotion = "slow-promotion"
        /// Asymmetric: the coordinator cannot reach the zone; clients and the other nodes still do.
        case coordinatorCut = "coordinator-cut"
        /// Asymmetric the other way: clients cannot reach the zone; the coordinator and the other nodes still do.
        case clientsCut = "clients-cut"
        /// The leading coordinator dies; a successor takes the lease once it expires and
        /// restores from the journal.
        case coordinatorCrash = "coordinator-crash"
        /// The leading coordinator loses its lease while alive: effects it already started
        /// finish, it starts no new one, and a successor takes over once the lease expires.
        case leaseLoss = "lease-loss"

        /// Whether a fault of this kind stops the primaries it reaches (RTO is measured for them).
        var hitsPrimaries: Bool { ![.coordinatorCrash, .leaseLoss, .shortFreeze, .coordinatorCut].contains(self) }
        /// Whether a drill would hold the zone while it lasts (the operator knows it is down).
        var isHeld: Bool { [.powerLoss, .partition, .shortFreeze, .longFreeze, .flapping, .slowPromotion].contains(self) }
        var hasZone: Bool { self != .coordinatorCrash && self != .leaseLoss }
    }

    public struct Fault: Sendable, Codable, Equatable {
        public let kind: FaultKind
        public let zone: ZoneID
        public let atMilliseconds: Int
        public let forMilliseconds: Int
        /// A zone fault during which the leading coordinator dies right after journaling
        /// this failover step as done (the step's effect happened; no one heard of it).
        public var coordinatorCrashAfter: String?
        /// `node-crash`: the shard whose member in `zone` crashes.
        public var shard: ShardID?
        /// The fault strikes the zone of this shard's primary when it starts (a drill's
        /// `primary_of`); `zone` is then set to it.
        public var primaryOf: ShardID?

        public init(kind: FaultKind, zone: ZoneID, atMilliseconds: Int, forMilliseconds: Int, coordinatorCrashAfter: String? = nil, shard: ShardID? = nil,
                    primaryOf: ShardID? = nil) {
            self.kind = kind
            self.zone = zone
            self.atMilliseconds = atMilliseconds
            self.forMilliseconds = forMilliseconds
            self.coordinatorCrashAfter = coordinatorCrashAfter
            self.shard = shard
            self.primaryOf = primaryOf
        }

        /// The same fault, striking `zone`.
        func striking(zone: ZoneID) -> Fault {
            Fault(kind: kind, zone: zone, atMilliseconds: atMilliseconds, forMilliseconds: forMilliseconds,
                  coordinatorCrashAfter: coordinatorCrashAfter, shard: shard, primaryOf: primaryOf)
        }

        /// The nodes it strikes, of `nodes`.
        func targets(in nodes: [NodeID]) -> [NodeID] {
            guard kind.hasZone else { return [] }
            return nodes.filter { $0.zone == zone && (kind != .nodeCrash || $0.shard == shard) }
        }
    }

    /// A time a shard accepted no commit (no primary reachable, or none with a streaming
    /// synchronous standby), in simulated milliseconds.
    public struct Outage: Sendable, Codable, Equatable {
        public let shard: String
        public let fromMilliseconds: Int
        public let toMilliseconds: Int
    }

    public struct Recovery: Sendable, Codable, Equatable {
        public let shard: String
        public let fault: Int
        /// From the fault to the shard's first acknowledged write after it.
        public let rtoMilliseconds: Int?
    }

    public struct Result: Sendable, Codable, Equatable {
        public var version = 3
        public let seed: UInt64
        public var faults: [Fault]
        /// Queue events plus single node probes.
        public var events = 0
        /// Probe rounds simulated (each probes every node).
        public var rounds = 0
        /// Times the clock jumped over quiet time.
        public var jumps = 0
        public var acknowledged = 0
        public var unacknowledged = 0
        public var promotions = 0
        /// Successor coordinators that took the lease after the leader died.
        public var takeovers = 0
        public var recoveries: [Recovery] = []
        public var outages: [Outage] = []
        public var violations: [String] = []
        public var passed = true
        /// The run's moves, in the order they were asked for.
        public var moves: [MoveResult] = []
    }

    let topology: Topology
    let settings: Settings
    let seed: UInt64

    public init(topology: Topology, seed: UInt64, settings: Settings = Settings()) {
        self.topology = topology
        self.seed = seed
        self.settings = settings
    }

    /// Faults one after another (at most one zone down at a time), each followed by `settle`.
    static func schedule(_ topology: Topology, settings: Settings, random: inout SeededRandom) -> [Fault] {
        let zones = topology.regions.flatMap(\.zones)
        let end = Int(settings.duration.inMilliseconds)
        let settle = Int(settings.settle.inMilliseconds)
        var faults: [Fault] = []
        var at = 2_000 + random.below(3_000)
        let failoverAfter = Int(topology.failover.failoverAfter.inMilliseconds)
        let shards = topology.shards
        for _ in 0..<settings.faults {
            let kind = FaultKind.allCases[random.below(FaultKind.allCases.count)]
            let length = kind == .shortFreeze ? max(1, failoverAfter / 3) + random.below(max(1, failoverAfter / 3)) : 1_000 + random.below(8_000)
            guard at + length + settle <= end else { break }
            var fault = Fault(kind: kind, zone: zones[random.below(zones.count)], atMilliseconds: at, forMilliseconds: length)
            if kind == .nodeCrash, !shards.isEmpty {
                let shard = shards[random.below(shards.count)]
                fault = Fault(kind: kind, zone: shard.zones[random.below(shard.zones.count)], atMilliseconds: at, forMilliseconds: length, shard: shard.id)
            }
            if kind == .powerLoss, random.below(2) == 0 {
                let steps = ShardOperation.Step.order(for: .failover).filter { $0 != .done }
                fault.coordinatorCrashAfter = steps[random.below(steps.count)].rawValue
            }
            faults.append(fault)
            at += length + settle + random.below(5_000)
        }
        return faults
    }

    /// `Settings.randomMove`: the first shard (in id order) from which a realm lets a tenant
    /// move to another region's shard, to a shard drawn from those; at a drawn time.
    static func randomMove(_ topology: Topology, settings: Settings, seed: UInt64) -> MoveOrder? {
        var random = SeededRandom(seed: seed ^ 0x3007_E3007_E)
        let pairs = SimulatedMove.pairs(topology)
        guard let from = pairs.first?.from else { return nil }
        let targets = pairs.filter { $0.from == from }
        let half = max(1, Int(settings.duration.inMilliseconds) / 2)
        return MoveOrder(from: from, to: targets[random.below(targets.count)].to, atMilliseconds: 1_000 + random.below(half))
    }

    public func run() -> Result {
        var engine = SimulationEngine(topology: topology, settings: settings, seed: seed)
        return engine.run()
    }

    /// The engine's floor, for benchmarks: `events` events through the same event queue,
    /// each drawing from the RNG and scheduling the next, deciding nothing. Returns a
    /// checksum so the work cannot be optimised away.
    public static func engineFloor(events: Int, seed: UInt64) -> Int {
        var random = SeededRandom(seed: seed)
        var queue = EventQueue<Int>()
        for lane in 0..<64 { queue.push(random.below(50), lane) }
        var sum = 0
        for _ in 0..<events {
            guard let (time, lane) = queue.pop() else { break }
            sum &+= time &+ lane
            queue.push(time + 1 + random.below(50), lane)
        }
        return sum
    }
}

extension Simulation {
    /// One run per seed, `jobs` at a time; the results in seed order, whatever `jobs` is.
    public static func runAll(topology: Topology, seeds: [UInt64], settings: Settings, jobs: Int) -> [Result] {
        parallelMap(seeds, jobs: jobs) { Simulation(topology: topology, seed: $0, settings: settings).run() }
    }
}

/// `transform` of every element, `jobs` elements at a time, in the elements' order.
func parallelMap<Element: Sendable, Value: Sendable>(_ elements: [Element], jobs: Int, _ transform: @escaping @Sendable (Element) -> Value) -> [Value] {
    let values = Mutex<[Value?]>(Array(repeating: nil, count: elements.count))
    let next = Atomic<Int>(0)
    let worker = { @Sendable in
        while true {
            let index = next.add(1, ordering: .relaxed).oldValue
            guard index < elements.count else { return }
            let value = transform(elements[index])
            values.withLock { $0[index] = value }
        }
    }
    let jobs = max(1, min(jobs, elements.count))
    if jobs == 1 { worker() } else { DispatchQueue.concurrentPerform(iterations: jobs) { _ in worker() } }
    return values.withLock { $0.map { $0! } }
}
