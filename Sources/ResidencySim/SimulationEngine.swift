import ResidencyCore

/// The event loop of one run.
struct SimulationEngine {
    enum Event {
        case probeTick
        case write(ShardID)
        /// Standbys of the shard receive what their upstreams wrote; waiting commits are acknowledged.
        case replicate(ShardID)
        case completed(CoordinatorDriver.Effect)
        case faultStarts(Int)
        case faultEnds(Int)
        /// A successor coordinator takes the lease.
        case takeover
    }

    let topology: Topology
    let settings: Simulation.Settings
    var random: SeededRandom
    var shards: SimulatedShards
    var driver: CoordinatorDriver
    var queue = EventQueue<Event>()
    var now = 0
    var result: Simulation.Result
    var held: Set<ZoneID> = []
    var nextRecord = 1
    /// Checker state: acknowledged records per shard, and the promotions per shard (node, time).
    var acknowledged: [ShardID: [Int]] = [:]
    var promotedAt: [NodeID: Int] = [:]
    var lastAck: [ShardID: Int] = [:]
    /// Commits waiting for a synchronous standby: (record, primary, since).
    var waiting: [ShardID: [(id: Int, primary: NodeID, since: Int)]] = [:]
    /// Per fault: the shards whose primary it hit, and their first acknowledgement after it.
    var hit: [Int: [ShardID]] = [:]
    var firstAckAfter: [Int: [ShardID: Int]] = [:]
    /// The control store as the Runtime journals it, lease-checked: what a successor restores.
    var journal: SimulatedJournal
    /// The lease token of the live coordinator; `nil` while none leads.
    var leader: Int64? = 1
    /// The token each effect was started under.
    var effectToken: [Int: Int64] = [:]
    /// A step after whose journaled completion the leader dies (armed by a fault).
    var crashAfter: ShardOperation.Step?

    init(topology: Topology, settings: Simulation.Settings, seed: UInt64) {
        self.topology = topology
        self.settings = settings
        random = SeededRandom(seed: seed)
        shards = SimulatedShards(topology: topology)
        driver = CoordinatorDriver(topology: topology)
        let faults = settings.schedule ?? Simulation.schedule(topology, settings: settings, random: &random)
        result = Simulation.Result(seed: seed, faults: faults)
        journal = SimulatedJournal(topology: topology)
        for shard in topology.shards { promotedAt[shard.initialPrimary] = 0 }
    }

    var instant: Instant { Instant(.milliseconds(now)) }

    mutating func run() -> Simulation.Result {
        handle(driver.step(now: instant, inputs: .init(lease: .acquired(token: 1, snapshot: journal.snapshot(held: held)))))
        queue.push(0, .probeTick)
        for shard in topology.shards { queue.push(random.below(Int(settings.writeInterval.inMilliseconds)), .write(shard.id)) }
        for (index, fault) in result.faults.enumerated() {
            queue.push(fault.atMilliseconds, .faultStarts(index))
            queue.push(fault.atMilliseconds + fault.forMilliseconds, .faultEnds(index))
        }
        let stop = Int(settings.duration.inMilliseconds)
        while let (time, event) = queue.pop(), time <= stop {
            now = time
            result.events += 1
            switch event {
            case .probeTick:
                if leader != nil {
                    let probes = shards.nodes.map { CoordinatorDriver.Probe(node: $0.id, probe: shards.probe($0.id, now: now), at: instant) }
                    handle(driver.step(now: instant, inputs: .init(probes: probes, heldZones: held)))
                }
                queue.push(now + Int(topology.failover.probeInterval.inMilliseconds), .probeTick)
            case let .write(shard):
                write(shard)
                queue.push(now + Int(settings.writeInterval.inMilliseconds), .write(shard))
            case let .replicate(shard):
                shards.replicate(shard, now: now)
                settle(shard)
            case let .completed(effect):
                guard let token = leader, effectToken[effect.id] == token else {
                    // A dead coordinator's effect: its process may or may not have got it done.
                    if random.below(2) == 0 { _ = apply(effect.action, journaling: false) }
                    continue
                }
                let outcome = apply(effect.action, journaling: true)
                if let step = crashAfter, case let .perform(operation, _) = effect.action, operation.step == step,
                   outcome == .event(.stepDone(operation.shard, step)) {
                    crashAfter = nil
                    crash()
                    continue
                }
                handle(driver.step(now: instant, inputs: .init(heldZones: held, completions: [.init(effect: effect.id, outcome: outcome)])))
            case .takeover:
                result.takeovers += 1
                let token = (effectToken.values.max() ?? 1) + 1
                leader = token
                driver = CoordinatorDriver(topology: topology)
                handle(driver.step(now: instant, inputs: .init(lease: .acquired(token: token, snapshot: journal.snapshot(held: held)))))
            case let .faultStarts(index):
                start(index)
            case let .faultEnds(index):
                heal(index)
            }
        }
        finish(at: stop)
        return result
    }

    mutating func handle(_ outputs: CoordinatorDriver.Outputs) {
        for effect in outputs.effects {
            effectToken[effect.id] = leader ?? 0
            queue.push(now + duration(of: effect.action), .completed(effect))
        }
    }

    /// The leading coordinator dies; a successor takes over once its lease has expired.
    mutating func crash() {
        guard leader != nil else { return }
        leader = nil
        queue.push(now + Int(settings.leaseTTL.inMilliseconds), .takeover)
    }

    /// How long an effect takes, drawn per effect (ms).
    mutating func duration(of action: Coordinator.Action) -> Int {
        switch action {
        case let .perform(operation, _):
            switch operation.step {
            case .promote: 50 + random.below(250)
            case .repoint, .drain: 10 + random.below(40)
            default: 3 + random.below(15)
            }
        case .rejoin: 300 + random.below(2_000)
        case .fence, .confirmRejoined, .setSynchronousStandbys, .record: 3 + random.below(15)
        }
    }

    // MARK: effects

    /// Carries out `action` on the simulated nodes; with `journaling`, records in the
    /// journal what the Runtime records (before acting, as `ActionExecutor` does).
    mutating func apply(_ action: Coordinator.Action, journaling: Bool) -> CoordinatorDriver.Outcome {
        let outcome = act(action)
        if journaling { journal.record(action, outcome: outcome) }
        return outcome
    }

    mutating func act(_ action: Coordinator.Action) -> CoordinatorDriver.Outcome {
        let unreachable = { (node: NodeID) in EffectFailure(.unreachable, "\(node) does not answer") }
        switch action {
        case .record:
            return .event(nil)
        case let .perform(operation, _):
            let fail = { (node: NodeID) -> CoordinatorDriver.Outcome in .event(.stepFailed(operation.shard, operation.step, unreachable(node))) }
            switch operation.step {
            case .drain:
                guard shards.answers(operation.from), shards.answers(operation.to) else { return fail(operation.from) }
                // A name no standby has: commits wait (as the Runtime's fenced set).
                shards[operation.from].synchronousSet = [NodeID(shard: operation.shard, zone: "fenced")]
                shards.replicate(operation.shard, now: now)
            case .epoch:
                if settings.broken == .promoteBeforeSynchronousStandbys, shards.answers(operation.to) {
                    shards[operation.to].synchronousSet = []
                    promote(operation.to, in: operation.shard)
                }
            case .done:
                break
            case .synchronousStandbys:
                guard shards.answers(operation.to) else { return fail(operation.to) }
                shards[operation.to].synchronousSet = operation.standbys
            case .repoint:
                for standby in operation.standbys where standby != operation.from && shards.answers(standby) {
                    shards[standby].upstream = operation.to
                }
                shards.replicate(operation.shard, now: now)
            case .promote:
                guard shards.answers(operation.to) else { return fail(operation.to) }
                promote(operation.to, in: operation.shard)
            case .fence:
                shards[operation.from].up = false
            }
            return .event(.stepDone(operation.shard, operation.step))
        case let .fence(node, _):
            shards[node].up = false
            return .event(.fenced(node))
        case let .rejoin(node, primary, rewind, _):
            guard shards[node].reachable, !held.contains(node.zone) else { return .event(.rejoinFailed(node, unreachable(node))) }
            if node == primary {
                shards[node].up = true
                return .event(.rejoined(node, following: primary))
            }
            guard shards.answers(primary) else { return .event(.rejoinFailed(node, unreachable(primary))) }
            shards.follow(node, primary: primary, rewind: rewind, now: now)
            return .event(.rejoined(node, following: primary))
        case let .confirmRejoined(node, primary, _):
            return .event(.rejoined(node, following: primary))
        case let .setSynchronousStandbys(primary, standbys, _):
            guard shards.answers(primary) else { return .event(.synchronousStandbysFailed(primary, unreachable(primary))) }
            shards[primary].synchronousSet = standbys
            shards.replicate(primary.shard, now: now)
            return .event(.synchronousStandbysSet(primary, standbys: standbys))
        }
    }

    /// Checkers at a promotion: inside the shard's region, holding every acknowledged write.
    mutating func promote(_ node: NodeID, in shard: ShardID) {
        shards[node].isPrimary = true
        shards[node].upstream = nil
        promotedAt[node] = now
        result.promotions += 1
        if let definition = topology.shard(shard), topology.region(ofZone: node.zone) != definition.region {
            violate("promotion of \(node) outside region \(definition.region)")
        }
        let wal = Set(shards[node].wal)
        let lost = (acknowledged[shard] ?? []).filter { !wal.contains($0) }
        if !lost.isEmpty { violate("\(lost.count) acknowledged write(s) of \(shard) lost at the promotion of \(node), first \(lost[0])") }
        shards.replicate(shard, now: now)
    }

    // MARK: clients

    /// A client commits a new record on the primary it reaches; it is acknowledged once a
    /// synchronous standby has it (after the replication lag), or never (1 s timeout).
    mutating func write(_ shard: ShardID) {
        guard let primary = shards.writable(shard, recorded: journal.primary(of: shard)) else {
            result.unacknowledged += 1
            return
        }
        let id = nextRecord
        nextRecord += 1
        shards.append(id, on: primary)
        if settings.broken == .acknowledgeWithoutStandby {
            acknowledge(id, by: primary, holders: shards.holders(of: id, in: shard))
        } else {
            waiting[shard, default: []].append((id, primary, now))
        }
        queue.push(now + 1 + random.below(4), .replicate(shard))
    }

    /// Acknowledges the waiting commits of `shard` that may be; drops those past the timeout.
    mutating func settle(_ shard: ShardID) {
        var still: [(id: Int, primary: NodeID, since: Int)] = []
        for commit in waiting[shard] ?? [] {
            if let holders = shards.acknowledgement(of: commit.id, on: commit.primary) {
                acknowledge(commit.id, by: commit.primary, holders: holders)
            } else if now - commit.since >= 1_000 {
                result.unacknowledged += 1
            } else {
                still.append(commit)
            }
        }
        waiting[shard] = still
    }

    /// Checkers at an acknowledgement.
    mutating func acknowledge(_ id: Int, by primary: NodeID, holders: [NodeID]) {
        let shard = primary.shard
        // No write acknowledged while only one node held it.
        if holders.count < 2 { violate("write \(id) of \(shard) acknowledged by \(primary) while only \(holders.map(\.description).joined(separator: ", ")) held it") }
        // No write acknowledged by a primary after another one was promoted.
        let own = promotedAt[primary] ?? 0
        if let newer = (shards.shardNodes[shard] ?? []).map({ shards.nodes[$0].id }).first(where: { $0 != primary && (promotedAt[$0] ?? -1) > own }) {
            violate("write \(id) of \(shard) acknowledged by \(primary) after the promotion of \(newer)")
        }
        acknowledged[shard, default: []].append(id)
        result.acknowledged += 1
        lastAck[shard] = now
        for (fault, shards) in hit.sorted(by: { $0.key < $1.key })
        where firstAckAfter[fault]?[shard] == nil && shards.contains(shard) && now >= result.faults[fault].atMilliseconds {
            firstAckAfter[fault, default: [:]][shard] = now
        }
    }

    // MARK: faults

    mutating func start(_ index: Int) {
        let fault = result.faults[index]
        let members = shards.nodes.filter { $0.id.zone == fault.zone }.map(\.id)
        hit[index] = fault.kind == .coordinatorCrash ? [] : topology.shards.filter { journal.primary(of: $0.id)?.zone == fault.zone }.map(\.id)
        crashAfter = fault.coordinatorCrashAfter.flatMap(ShardOperation.Step.init(rawValue:))
        switch fault.kind {
        case .coordinatorCrash:
            crash()
        case .powerLoss:
            held.insert(fault.zone)
            for node in members { shards[node].up = false }
        case .partition, .shortFreeze:
            held.insert(fault.zone)
            for node in members { shards[node].reachable = false }
        }
    }

    mutating func heal(_ index: Int) {
        let fault = result.faults[index]
        crashAfter = nil
        guard fault.kind != .coordinatorCrash else { return }
        held.remove(fault.zone)
        for node in shards.nodes.filter({ $0.id.zone == fault.zone }).map(\.id) { shards[node].reachable = true }
        for shard in topology.shards { shards.replicate(shard.id, now: now) }
    }

    mutating func finish(at end: Int) {
        for (index, shards) in hit.sorted(by: { $0.key < $1.key }) {
            for shard in shards.sorted() {
                let rto = firstAckAfter[index]?[shard].map { $0 - result.faults[index].atMilliseconds }
                result.recoveries.append(Simulation.Recovery(shard: shard.rawValue, fault: index + 1, rtoMilliseconds: rto))
            }
        }
        // Liveness: after the last fault has healed and settled, every shard acknowledges writes.
        for shard in topology.shards.map(\.id).sorted() where (lastAck[shard] ?? -1) < end - 1_000 {
            violate("\(shard) acknowledged no write in the last second of the run: no primary \(Int(settings.settle.inMilliseconds) / 1000) s after the last fault")
        }
    }

    mutating func violate(_ message: String) {
        result.passed = false
        result.violations.append("at \(now) ms: \(message)")
    }
}
