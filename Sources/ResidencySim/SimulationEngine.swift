import ResidencyCore

/// The event loop of one run.
struct SimulationEngine {
    enum Event {
        case probeTick
        /// A client writes to the shard (by number).
        case write(Int)
        /// Standbys of the shard receive what their upstreams wrote; waiting commits are acknowledged.
        case replicate(Int)
        /// The effect of this id finished (it waits in `running`).
        case completed(Int)
        /// Every effect completed at this instant reaches the coordinator in one step.
        case deliver
        case faultStarts(Int)
        case faultEnds(Int)
        /// A flapping zone changes between cut off and back.
        case flap(Int)
        /// A successor coordinator takes the lease.
        case takeover
        /// The move's first step; the moving tenant writes; a move step ends; a move's wait ends.
        case moveStarts(Int)
        case tenantWrite
        case moveStepDone(Int, MoveDriver.Step)
        case moveWoke(Int)
        /// A zone fault armed at a move phase ends (`Settings.moveFault`).
        case moveFaultEnds(Int)
    }

    let topology: Topology
    let settings: Simulation.Settings
    var random: SeededRandom
    var shards: SimulatedShards
    var driver: CoordinatorDriver
    var queue = EventQueue<Event>()
    var now = 0
    var result: Simulation.Result
    var checker: SimulationChecker
    var availability: AvailabilityLog
    var held: Set<ZoneID> = []
    /// Per shard number: commits waiting for a synchronous standby (record, primary, since,
    /// and the moving tenant's row it holds, if any).
    var waiting: [[(id: Int, primary: Int, since: Int, row: (move: Int, row: Int)?)]]
    /// Per shard number: the primary the journal records (where clients go first).
    var recordedPrimary: [Int?]
    /// Per shard number: faults that hit its primary and wait for its first acknowledgement.
    var awaitingRecovery: [[Int]]
    /// Per fault: the shards whose primary it hit, and their first acknowledgement after it.
    var hit: [Int: [Int]] = [:]
    var firstAckAfter: [Int: [Int: Int]] = [:]
    /// The control store as the Runtime journals it, lease-checked: what a successor restores.
    var journal: SimulatedJournal
    /// The lease token of the live coordinator; `nil` while none leads.
    var leader: Int64? = 1
    var lastToken: Int64 = 1
    /// Effects under way, by id, with the token each was started under.
    var running: [Int: (effect: CoordinatorDriver.Effect, token: Int64)] = [:]
    var completedNow: [Int] = []
    /// A step after whose journaled completion the leader dies (armed by a fault).
    var crashAfter: ShardOperation.Step?
    /// Zone faults under way that make promotions slow.
    var slowPromotions = 0
    /// The last time anything the coordinator could react to changed: a probe that saw
    /// something else than the round before (the WAL receiver's silence growing aside), an
    /// effect that did not fail, a fault. Only after `quietHorizon` without one may the clock
    /// jump (never past a running effect's end: that is a queued event).
    var lastChange = 0
    /// Per node position: the probe the coordinator last got; empty until the first round
    /// of a coordinator (which gets every probe).
    var delivered: [NodeProbe] = []
    /// Per shard number: its version at its last probe, and whether a standby's silence
    /// grew then (its probes change every round until it streams again).
    var probedVersion: [Int] = []
    var silent: [Bool] = []
    /// Per shard number: its version when `checkWritablePrimaries` last looked.
    var checkedVersion: [Int] = []
    let regionOfShard: [RegionID]
    /// The run's residency moves (`Settings.move`, `Settings.moves`), by number.
    var moves: [SimulatedMove] = []
    /// Whether the moving tenants' writer is scheduled.
    var tenantWriting = false

    init(topology: Topology, settings: Simulation.Settings, seed: UInt64) {
        self.topology = topology
        self.settings = settings
        random = SeededRandom(seed: seed)
        shards = SimulatedShards(topology: topology)
        driver = CoordinatorDriver(topology: topology)
        // Drawn from a stream of their own: a run given the same faults as a schedule
        // (a replay, a shortened schedule) draws everything else exactly as the first.
        var scheduleRandom = SeededRandom(seed: seed ^ 0x5CED_F00D_5CED_F00D)
        let faults = settings.schedule ?? Simulation.schedule(topology, settings: settings, random: &scheduleRandom)
        result = Simulation.Result(seed: seed, faults: faults)
        journal = SimulatedJournal(topology: topology)
        let shards = self.shards
        checker = SimulationChecker(names: shards.nodes.map(\.id), shards: shards.shardIDs,
                                    initialPrimaries: topology.shards.compactMap { shards.position($0.initialPrimary) })
        availability = AvailabilityLog(shards: shards.shardIDs)
        waiting = Array(repeating: [], count: shards.shardIDs.count)
        awaitingRecovery = Array(repeating: [], count: shards.shardIDs.count)
        recordedPrimary = topology.shards.map { shards.position($0.initialPrimary) }
        regionOfShard = topology.shards.map(\.region)
        probedVersion = Array(repeating: -1, count: shards.shardIDs.count)
        silent = Array(repeating: false, count: shards.shardIDs.count)
        checkedVersion = Array(repeating: -1, count: shards.shardIDs.count)
    }

    var instant: Instant { Instant(.milliseconds(now)) }
    var probeInterval: Int { Int(topology.failover.probeInterval.inMilliseconds) }

    mutating func run() -> Simulation.Result {
        handle(driver.step(now: instant, inputs: .init(lease: .acquired(token: 1, snapshot: journal.snapshot(held: held)))))
        queue.push(0, .probeTick)
        if settings.clients {
            for shard in shards.shardIDs.indices { queue.push(random.below(Int(settings.writeInterval.inMilliseconds)), .write(shard)) }
        }
        var orders = settings.moves
        if let order = settings.move ?? (settings.randomMove ? Simulation.randomMove(topology, settings: settings, seed: result.seed) : nil) {
            orders.insert(order, at: 0)
        }
        for order in orders {
            guard let move = SimulatedMove(order: order, topology: topology, shards: shards) else {
                checker.report(0, "no realm lets a tenant of \(order.from) move to \(order.to)'s region")
                continue
            }
            queue.push(order.atMilliseconds, .moveStarts(moves.count))
            moves.append(move)
        }
        if settings.clients, !moves.isEmpty {
            // With clients, the moving tenants write from the start; without (`simulate sla`), while a move runs.
            tenantWriting = true
            queue.push(random.below(Int(settings.writeInterval.inMilliseconds)), .tenantWrite)
        }
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
                probeRound(stop: stop)
            case let .write(shard):
                write(shard)
                queue.push(now + Int(settings.writeInterval.inMilliseconds), .write(shard))
            case let .replicate(shard):
                shards.replicate(shard, now: now)
                settle(shard)
                observe(shard)
            case let .completed(id):
                if completedNow.isEmpty { queue.push(now, .deliver) }
                completedNow.append(id)
            case .deliver:
                deliver()
            case .takeover:
                lastChange = now
                result.takeovers += 1
                lastToken += 1
                leader = lastToken
                driver = CoordinatorDriver(topology: topology)
                delivered = []
                handle(driver.step(now: instant, inputs: .init(lease: .acquired(token: lastToken, snapshot: journal.snapshot(held: held)))))
            case let .faultStarts(index):
                start(index)
            case let .faultEnds(index):
                heal(index)
            case let .flap(index):
                flap(index)
            case let .moveStarts(number):
                moves[number].started = true
                if !tenantWriting {
                    tenantWriting = true
                    queue.push(now, .tenantWrite)
                }
                let actions = moves[number].driver.start(now: instant)
                carryOut(actions, move: number)
            case .tenantWrite:
                for number in moves.indices where settings.clients || (moves[number].started && !moves[number].finished) { tenantWrite(number) }
                if settings.clients || moves.contains(where: { $0.started && !$0.finished }) {
                    queue.push(now + Int(settings.writeInterval.inMilliseconds), .tenantWrite)
                } else {
                    tenantWriting = false
                }
            case let .moveStepDone(number, step):
                moveStepDone(step, move: number)
            case let .moveWoke(number):
                feedMove(.woke, move: number)
            case let .moveFaultEnds(index):
                heal(index)
            }
        }
        now = stop
        finish()
        return result
    }

    /// One probe of every node, in one coordinator step. Only probes that differ from what
    /// the coordinator last got travel; the rest arrive as "unchanged at this instant"
    /// (`Inputs.probesUnchangedAt`), and only shards that changed since their last probe,
    /// or have a standby whose silence grows, are probed at all. With no clients writing, a
    /// run of quiet rounds lets the clock jump to shortly before the next scheduled event or
    /// the coordinator's next timer (a running effect's end is such an event): nothing can
    /// change in between, and one round before it every node is probed afresh (the
    /// coordinator then knows what it would know had every round been simulated).
    mutating func probeRound(stop: Int) {
        var next = now + probeInterval
        if leader != nil {
            let full = delivered.isEmpty
            if full { delivered = Array(repeating: .unreachable, count: shards.nodes.count) }
            var probes: [CoordinatorDriver.Probe] = []
            for shard in shards.shardIDs.indices where full || silent[shard] || probedVersion[shard] != shards.versions[shard] {
                probedVersion[shard] = shards.versions[shard]
                var growing = false
                for position in shards.shardNodes[shard] {
                    let probe = shards.probe(at: position, now: now)
                    if case let .reachable(report) = probe, let since = report.sinceUpstreamMessage, since != .zero { growing = true }
                    guard full || probe != delivered[position] else { continue }
                    if full || Self.withoutSilence(probe) != Self.withoutSilence(delivered[position]) { lastChange = now }
                    delivered[position] = probe
                    probes.append(.init(node: shards.nodes[position].id, probe: probe, at: instant))
                }
                silent[shard] = growing
            }
            result.events += shards.nodes.count
            result.rounds += 1
            handle(driver.step(now: instant, inputs: .init(probes: probes, probesUnchangedAt: full ? nil : instant, heldZones: held)))
        }
        checkWritablePrimaries()
        if !settings.clients, now - lastChange >= quietHorizon {
            var until = min(queue.nextTime() ?? stop, stop)
            if let wake = driver.nextWake(after: instant) { until = min(until, Int(wake.sinceOrigin.inMilliseconds)) }
            next = max(next, until - probeInterval)
            if next > now + probeInterval { result.jumps += 1 }
        }
        queue.push(next, .probeTick)
    }

    /// Longer than any wait of the coordinator's (failing over, rejoining, restarting in
    /// place, retrying) plus two probe rounds: past it, with nothing changed, the coordinator
    /// has done all it will do until something changes.
    var quietHorizon: Int {
        let failover = topology.failover
        let wait = max(failover.failoverAfter, failover.rejoinAfter, failover.restartInPlaceAfter) + failover.retryPause
        return Int(wait.inMilliseconds) + 2 * probeInterval
    }

    /// A probe without the time since the WAL receiver last heard from its upstream: it grows
    /// while nothing else changes.
    static func withoutSilence(_ probe: NodeProbe) -> NodeProbe {
        guard case var .reachable(report) = probe, report.sinceUpstreamMessage != nil, report.sinceUpstreamMessage != .zero else { return probe }
        report.sinceUpstreamMessage = .seconds(3_600)
        return .reachable(report)
    }

    mutating func deliver() {
        let batch = completedNow
        completedNow = []
        var completions: [CoordinatorDriver.Completion] = []
        for id in batch {
            guard let (effect, token) = running.removeValue(forKey: id) else { continue }
            guard leader == token else {
                // A deposed or dead coordinator's effect: its process may or may not have got it done.
                if random.below(2) == 0 { _ = apply(effect.action, journaling: false) }
                continue
            }
            let outcome = apply(effect.action, journaling: true)
            if !outcome.isFailure { lastChange = now }
            if let step = crashAfter, case let .perform(operation, _) = effect.action, operation.step == step,
               outcome == .event(.stepDone(operation.shard, step)) {
                crashAfter = nil
                crash()
                continue
            }
            completions.append(.init(effect: effect.id, outcome: outcome))
        }
        guard leader != nil, !completions.isEmpty else { return }
        handle(driver.step(now: instant, inputs: .init(heldZones: held, completions: completions)))
    }

    mutating func handle(_ outputs: CoordinatorDriver.Outputs) {
        for effect in outputs.effects {
            running[effect.id] = (effect, leader ?? 0)
            let scaled = settings.effectScale == 1 ? duration(of: effect.action) : Int((Double(duration(of: effect.action)) * settings.effectScale).rounded())
            queue.push(now + max(1, scaled), .completed(effect.id))
        }
    }

    /// The leading coordinator dies (or loses its lease); a successor takes over once the lease has expired.
    /// A successor takes over once the lease expires, or after `downFor` ms when longer
    /// (a drill's coordinator that stays dead until `coordinator-restart`).
    mutating func crash(downFor: Int = 0) {
        guard leader != nil else { return }
        leader = nil
        queue.push(now + max(Int(settings.leaseTTL.inMilliseconds), downFor), .takeover)
    }

    /// How long an effect takes, drawn per effect (ms).
    mutating func duration(of action: Coordinator.Action) -> Int {
        switch action {
        case let .perform(operation, _):
            switch operation.step {
            case .promote: slowPromotions > 0 ? 2_000 + random.below(4_000) : 50 + random.below(250)
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
        let shard: ShardID
        switch action {
        case let .perform(operation, _): shard = operation.shard
        case let .fence(node, _), let .rejoin(node, _, _, _), let .confirmRejoined(node, _, _), let .setSynchronousStandbys(node, _, _): shard = node.shard
        case .record: return outcome
        }
        guard let number = shards.shardNumber[shard] else { return outcome }
        if journaling {
            journal.record(action, outcome: outcome)
            recordedPrimary[number] = journal.primary(of: shard).flatMap(shards.position)
        }
        observe(number)
        return outcome
    }

    mutating func act(_ action: Coordinator.Action) -> CoordinatorDriver.Outcome {
        let unreachable = { (node: NodeID) in EffectFailure(.unreachable, "\(node) does not answer") }
        switch action {
        case .record:
            return .event(nil)
        case let .perform(operation, _):
            let fail = { (node: NodeID) -> CoordinatorDriver.Outcome in .event(.stepFailed(operation.shard, operation.step, unreachable(node))) }
            guard let number = shards.shardNumber[operation.shard], at(operation.from) >= 0, at(operation.to) >= 0 else { return fail(operation.to) }
            switch operation.step {
            case .drain:
                guard reaches(operation.from), reaches(operation.to) else { return fail(operation.from) }
                // A name no standby has: commits wait (as the Runtime's fenced set).
                shards[at(operation.from)].synchronousSet = [-1]
                shards.replicate(number, now: now)
            case .epoch:
                if settings.broken == .promoteBeforeSynchronousStandbys, reaches(operation.to) {
                    shards[at(operation.to)].synchronousSet = []
                    promote(at(operation.to))
                }
            case .done, .install:
                // No simulated fault starts a restore (an operator's `backup restore --promote`).
                break
            case .synchronousStandbys:
                guard reaches(operation.to) else { return fail(operation.to) }
                shards[at(operation.to)].synchronousSet = shards.positions(operation.standbys)
            case .repoint:
                for standby in operation.standbys where standby != operation.from && reaches(standby) {
                    shards[at(standby)].upstream = at(operation.to)
                }
                shards.replicate(number, now: now)
            case .promote:
                guard reaches(operation.to) else { return fail(operation.to) }
                promote(at(operation.to))
            case .fence:
                // Power fencing: the old primary stays down whether it answers or not.
                if settings.broken != .skipFence { shards[at(operation.from)].up = false }
            }
            return .event(.stepDone(operation.shard, operation.step))
        case let .fence(node, _):
            guard at(node) >= 0 else { return .event(.fenceFailed(node, unreachable(node))) }
            if settings.broken != .skipFence { shards[at(node)].up = false }
            return .event(.fenced(node))
        case let .rejoin(node, primary, rewind, _):
            guard at(node) >= 0, at(primary) >= 0, shards.coordinatorReaches(at(node), evenWhenDown: true), !held.contains(node.zone) else {
                return .event(.rejoinFailed(node, unreachable(node)))
            }
            if node == primary {
                shards[at(node)].up = true
                return .event(.rejoined(node, following: primary))
            }
            guard shards[at(primary)].answers else { return .event(.rejoinFailed(node, unreachable(primary))) }
            shards.follow(at(node), primary: at(primary), rewind: rewind, now: now)
            return .event(.rejoined(node, following: primary))
        case let .confirmRejoined(node, primary, _):
            return .event(.rejoined(node, following: primary))
        case let .setSynchronousStandbys(primary, standbys, _):
            guard reaches(primary) else { return .event(.synchronousStandbysFailed(primary, unreachable(primary))) }
            shards[at(primary)].synchronousSet = shards.positions(standbys)
            shards.replicate(shards[at(primary)].shard, now: now)
            return .event(.synchronousStandbysSet(primary, standbys: standbys))
        }
    }

    /// The position of `node`, -1 for a name that is no node.
    func at(_ node: NodeID) -> Int { shards.position(node) ?? -1 }

    /// Whether the coordinator reaches `node` and it runs.
    func reaches(_ node: NodeID) -> Bool { at(node) >= 0 && shards.coordinatorReaches(at(node)) }

    mutating func promote(_ node: Int) {
        let shard = shards[node].shard
        shards[node].isPrimary = true
        shards[node].upstream = nil
        result.promotions += 1
        let region = regionOfShard[shard]
        checker.promoted(node, of: shard, tip: shards[node].tip, inRegion: topology.region(ofZone: shards[node].id.zone) == region,
                         region: region, records: shards.records, now: now)
        shards.replicate(shard, now: now)
    }

    // MARK: clients

    /// A client commits a new record on the primary it reaches; it is acknowledged once a
    /// synchronous standby has it (after the replication lag), or never (1 s timeout).
    mutating func write(_ shard: Int) {
        guard let primary = shards.writable(shard, recorded: recordedPrimary[shard]) else {
            result.unacknowledged += 1
            return
        }
        let id = shards.append(on: primary)
        if settings.broken == .acknowledgeWithoutStandby {
            acknowledge(id, of: shard, by: primary)
        } else {
            waiting[shard].append((id, primary, now, nil))
        }
        queue.push(now + 1 + random.below(4), .replicate(shard))
    }

    /// Acknowledges the waiting commits of `shard` that may be; drops those past the timeout.
    mutating func settle(_ shard: Int) {
        guard !waiting[shard].isEmpty else { return }
        let pending = waiting[shard]
        waiting[shard] = []
        for commit in pending {
            if shards.mayAcknowledge(commit.id, on: commit.primary) {
                acknowledge(commit.id, of: shard, by: commit.primary)
                if let row = commit.row { moves[row.move].acknowledged.insert(row.row) }
            } else if now - commit.since >= 1_000 {
                result.unacknowledged += 1
            } else {
                waiting[shard].append(commit)
            }
        }
    }

    mutating func acknowledge(_ id: Int, of shard: Int, by primary: Int) {
        checker.acknowledged(id, of: shard, by: primary, holders: shards.holders(of: id, in: shard), members: shards.shardNodes[shard],
                             records: shards.records, now: now)
        result.acknowledged += 1
        guard !awaitingRecovery[shard].isEmpty else { return }
        awaitingRecovery[shard].removeAll { fault in
            guard now >= result.faults[fault].atMilliseconds else { return false }
            firstAckAfter[fault, default: [:]][shard] = now
            return true
        }
    }

    /// Whether shard `number` accepts commits, after anything that may have changed it.
    mutating func observe(_ number: Int) {
        availability.set(shards.shardIDs[number], up: shards.acceptsCommits(number, recorded: recordedPrimary[number]), at: now)
    }

    /// At most one primary of a shard acknowledges; looked at where something changed.
    mutating func checkWritablePrimaries() {
        for (number, members) in shards.shardNodes.enumerated() where checkedVersion[number] != shards.versions[number] {
            checkedVersion[number] = shards.versions[number]
            var writable = 0
            for member in members where shards.acknowledges(member) { writable += 1 }
            if writable > 1 { checker.writablePrimaries(members.filter(shards.acknowledges), of: number, now: now) }
        }
    }

    // MARK: faults

    /// The node positions a fault strikes.
    func targets(_ fault: Simulation.Fault) -> [Int] {
        shards.positions(fault.targets(in: shards.nodes.map(\.id)))
    }

    mutating func start(_ index: Int) {
        if let shard = result.faults[index].primaryOf, let number = shards.shardNumber[shard],
           let primary = recordedPrimary[number] ?? topology.shard(shard).flatMap({ shards.position($0.initialPrimary) }) {
            // `primary_of`: the zone of that shard's primary now.
            result.faults[index] = result.faults[index].striking(zone: shards[primary].id.zone)
        }
        let fault = result.faults[index]
        lastChange = now
        let struck = targets(fault)
        let primaries = shards.shardIDs.indices.filter { recordedPrimary[$0].map(struck.contains) == true }
        if fault.kind.hitsPrimaries {
            hit[index] = primaries
            for shard in primaries { awaitingRecovery[shard].append(index) }
        }
        crashAfter = fault.coordinatorCrashAfter.flatMap(ShardOperation.Step.init(rawValue:))
        if settings.holdZones, fault.kind.isHeld { held.insert(fault.zone) }
        switch fault.kind {
        case .coordinatorCrash:
            crash(downFor: fault.forMilliseconds)
        case .leaseLoss:
            // Alive but deposed: its running effects still finish; nothing new starts.
            if leader != nil { handle(driver.step(now: instant, inputs: .init(lease: .lost))) }
            crash()
        case .powerLoss, .nodeCrash, .slowPromotion:
            if fault.kind == .slowPromotion { slowPromotions += 1 }
            for node in struck {
                shards[node].up = false
                shards[node].powered = false
            }
        case .partition, .shortFreeze, .longFreeze:
            for node in struck { shards[node].reachable = false }
        case .flapping:
            for node in struck { shards[node].reachable = false }
            queue.push(now + 200 + random.below(1_300), .flap(index))
        case .coordinatorCut:
            for node in struck { shards[node].hiddenFromCoordinator = true }
        case .clientsCut:
            for node in struck { shards[node].hiddenFromClients = true }
        }
        for shard in Set(struck.map { shards[$0].shard }).sorted() { observe(shard) }
    }

    mutating func flap(_ index: Int) {
        let fault = result.faults[index]
        guard now < fault.atMilliseconds + fault.forMilliseconds else { return }
        let struck = targets(fault)
        let cut = !(struck.first.map { shards[$0].reachable } ?? true)
        for node in struck { shards[node].reachable = cut }
        for shard in Set(struck.map { shards[$0].shard }).sorted() {
            shards.replicate(shard, now: now)
            observe(shard)
        }
        queue.push(now + 200 + random.below(1_300), .flap(index))
    }

    mutating func heal(_ index: Int) {
        let fault = result.faults[index]
        lastChange = now
        crashAfter = nil
        if fault.kind == .slowPromotion { slowPromotions -= 1 }
        if fault.kind.isHeld { held.remove(fault.zone) }
        for node in targets(fault) {
            shards[node].powered = true
            shards[node].reachable = true
            shards[node].hiddenFromClients = false
            shards[node].hiddenFromCoordinator = false
        }
        for shard in shards.shardIDs.indices {
            shards.replicate(shard, now: now)
            observe(shard)
        }
    }

    /// How long a shard whose primary a fault hit may stay without one (ms), when one zone
    /// of its region at most is down: detection (`failover_after`) and 2 s of steps, plus the
    /// lease of a coordinator that dies in the failover, plus the slowest slow promotion.
    /// `nil` for a cut between clients and the zone: the coordinator still reaches the
    /// primary and does not fail it over (no outage it can see, none it can end).
    func rtoBound(_ fault: Simulation.Fault) -> Int? {
        guard fault.kind != .clientsCut else { return nil }
        var bound = Int(topology.failover.failoverAfter.inMilliseconds) + Int(2_000 * settings.effectScale)
        if fault.coordinatorCrashAfter != nil { bound += Int(settings.leaseTTL.inMilliseconds) + Int(2_000 * settings.effectScale) }
        if fault.kind == .slowPromotion { bound += Int(6_000 * settings.effectScale) }
        return bound
    }

    mutating func finish() {
        for (index, struck) in hit.sorted(by: { $0.key < $1.key }) {
            for shard in struck.sorted(by: { shards.shardIDs[$0] < shards.shardIDs[$1] }) {
                let rto = firstAckAfter[index]?[shard].map { $0 - result.faults[index].atMilliseconds }
                result.recoveries.append(Simulation.Recovery(shard: shards.shardIDs[shard].rawValue, fault: index + 1, rtoMilliseconds: rto))
                // Faults one zone at a time: each shard they hit must be back within its bound.
                if settings.checkRecoveryBounds, settings.clients, let bound = rtoBound(result.faults[index]) {
                    checker.recovered(shards.shardIDs[shard], fault: index + 1, kind: result.faults[index].kind.rawValue, rto: rto, bound: bound,
                                      at: result.faults[index].atMilliseconds)
                }
            }
        }
        availability.close(at: now)
        result.outages = availability.outages
        if settings.clients { checker.finish(end: now, settleSeconds: Int(settings.settle.inMilliseconds) / 1000, exempt: settings.mayStayDown) }
        finishMoves()
        result.violations = checker.violations
        result.passed = result.violations.isEmpty
    }
}

extension CoordinatorDriver.Outcome {
    /// An effect that changed nothing: it failed.
    var isFailure: Bool {
        switch self {
        case .event(.stepFailed?), .event(.rejoinFailed?), .event(.fenceFailed?), .event(.synchronousStandbysFailed?): true
        default: false
        }
    }
}
