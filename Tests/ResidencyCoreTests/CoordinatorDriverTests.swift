import ResidencyCore
import Testing

/// The coordinator's driver, stepped by hand with fake effects: shards' effects run side by
/// side in lanes, a stalled one holds only its own lane, failed effects come back as
/// failures, the request policy, the lease.
@Suite struct CoordinatorDriverTests {
    static func topology(shards: Int, concurrency: Int = 8) -> Topology {
        let zones: [ZoneID] = ["eu-central-a", "eu-central-b", "eu-central-c"]
        let list = (1...shards).map { Shard(id: ShardID("eu-central-\($0)"), region: "eu-central", zones: zones) }
        return Topology(
            realms: [Realm(id: "eu", regions: ["eu-central"])],
            regions: [Region(id: "eu-central", zones: zones, shards: list, ports: PortRange(first: 30_000, last: 30_000 + 3 * shards))],
            apps: [], failover: FailoverSettings(effectConcurrency: concurrency), serviceLevels: ServiceLevels(tiers: []), controlPort: 25400)
    }

    /// Every shard healthy, primary in zone a, synchronous set {b, c}.
    static func snapshot(_ topology: Topology, operations: [ShardOperation] = []) -> ControlSnapshot {
        ControlSnapshot(
            shards: topology.shards.map {
                ControlSnapshot.ShardRecord(shard: $0.id, epoch: 1, primary: $0.nodes[0], synchronousSet: Array($0.nodes.dropFirst()))
            },
            needsRewind: [], openOperations: operations, heldZones: [])
    }

    func at(_ ms: Int) -> Instant { Instant(.milliseconds(ms)) }

    let standby = NodeProbe.reachable(NodeReport(inRecovery: true, receivedLSN: LSN(0x500)))
    let primary = NodeProbe.reachable(NodeReport(inRecovery: false, currentLSN: LSN(0x500)))

    /// Probes of every node at `ms`: nodes in `down` unreachable, primaries of zone a
    /// answering as primaries unless down, the rest standbys.
    func probes(_ topology: Topology, down: Set<ZoneID>, at ms: Int) -> [CoordinatorDriver.Probe] {
        topology.nodes.map { node in
            let probe: NodeProbe = down.contains(node.zone) ? .unreachable : node.zone == "eu-central-a" ? primary : standby
            return CoordinatorDriver.Probe(node: node, probe: probe, at: at(ms))
        }
    }

    func leader(_ topology: Topology) -> (CoordinatorDriver, CoordinatorDriver.Outputs) {
        var driver = CoordinatorDriver(topology: topology)
        let out = driver.step(now: at(0), inputs: .init(lease: .acquired(token: 7, snapshot: Self.snapshot(topology))))
        return (driver, out)
    }

    func steps(_ effects: [CoordinatorDriver.Effect]) -> [ShardID: ShardOperation.Step] {
        var result: [ShardID: ShardOperation.Step] = [:]
        for effect in effects { if case let .perform(operation, _) = effect.action { result[operation.shard] = operation.step } }
        return result
    }

    func done(_ effect: CoordinatorDriver.Effect) -> CoordinatorDriver.Completion {
        guard case let .perform(operation, _) = effect.action else { return .init(effect: effect.id, outcome: .event(nil)) }
        return .init(effect: effect.id, outcome: .event(.stepDone(operation.shard, operation.step)))
    }

    /// Zone a (every primary) goes down at 100 ms; the standbys answer at 1,100 ms.
    func zoneLoss(_ driver: inout CoordinatorDriver, _ topology: Topology) -> CoordinatorDriver.Outputs {
        _ = driver.step(now: at(100), inputs: .init(probes: probes(topology, down: ["eu-central-a"], at: 100)))
        return driver.step(now: at(1_100), inputs: .init(probes: probes(topology, down: ["eu-central-a"], at: 1_100)))
    }

    @Test func aZoneLossStartsTheFailoverOfEveryPrimaryInItAtOnce() {
        let topology = Self.topology(shards: 6)
        var (driver, _) = leader(topology)
        let out = zoneLoss(&driver, topology)
        #expect(steps(out.effects) == Dictionary(uniqueKeysWithValues: topology.shards.map { ($0.id, .epoch) }))
        #expect(Set(out.effects.map(\.lane)).count == 6)
        #expect(out.records.filter { $0.kind == "failover.started" }.count == 6)
    }

    @Test func aStalledShardDelaysNoOtherShardsDecisionOrEffects() {
        let topology = Self.topology(shards: 6)
        var (driver, _) = leader(topology)
        var running = zoneLoss(&driver, topology).effects
        let stalled = running.first { $0.lane == .shard("eu-central-1") }!
        var now = 1_100
        var finished: Set<ShardID> = []
        // Complete every effect but the stalled one, step after step, until the other
        // five failovers are done.
        while finished.count < 5 {
            now += 10
            let completions = running.filter { $0 != stalled }.map(done)
            let out = driver.step(now: at(now), inputs: .init(completions: completions))
            #expect(!out.effects.contains { $0.lane == .shard("eu-central-1") }, "a second effect in a busy lane")
            for record in out.records where record.kind == "failover.done" { finished.insert(record.shard!) }
            running = [stalled] + out.effects
            #expect(now < 1_300, "the other shards did not finish while one stalled")
            if now >= 1_300 { break }
        }
        #expect(!finished.contains("eu-central-1"))
        #expect(driver.coordinator?.shards["eu-central-1"]?.operation?.step == .epoch)
        // The stalled effect ends: its shard goes on.
        let out = driver.step(now: at(now + 10), inputs: .init(completions: [done(stalled)]))
        #expect(steps(out.effects) == ["eu-central-1": .synchronousStandbys])
    }

    @Test func theConcurrencyBoundHoldsAndEveryShardStillFinishes() {
        let topology = Self.topology(shards: 6, concurrency: 2)
        var (driver, _) = leader(topology)
        var running = zoneLoss(&driver, topology).effects
        #expect(running.count == 2)
        var now = 1_100
        var finished: Set<ShardID> = []
        while finished.count < 6, now < 5_000 {
            now += 10
            let out = driver.step(now: at(now), inputs: .init(completions: running.map(done)))
            #expect(driver.runningSteps <= 2)
            #expect(driver.runningRejoins <= topology.failover.rejoinConcurrency)
            for record in out.records where record.kind == "failover.done" { finished.insert(record.shard!) }
            running = out.effects
        }
        #expect(finished.count == 6)
    }

    @Test func aLongRejoinOfOneShardNeverDelaysAnotherShardsFailover() {
        let topology = Self.topology(shards: 2, concurrency: 2)
        var (driver, _) = leader(topology)
        // Shard 1's standby in zone c is down: after rejoinAfter it is rejoined (slow).
        let c1 = NodeID(shard: "eu-central-1", zone: "eu-central-c")
        var first = probes(topology, down: [], at: 100)
        first = first.map { $0.node == c1 ? .init(node: c1, probe: .unreachable, at: at(100)) : $0 }
        _ = driver.step(now: at(100), inputs: .init(probes: first))
        let rejoin = driver.step(now: at(1_200), inputs: .init(probes: first.map { .init(node: $0.node, probe: $0.probe, at: at(1_200)) })).effects
        #expect(rejoin.map(\.lane) == [.node(c1)])
        // Zone a goes down while the rejoin runs and never ends: shard 2 fails over anyway,
        // to the end, and so does shard 1 (a rejoin holds a node lane, not the shard's).
        _ = driver.step(now: at(1_300), inputs: .init(probes: probes(topology, down: ["eu-central-a"], at: 1_300)))
        var running = driver.step(now: at(2_400), inputs: .init(probes: probes(topology, down: ["eu-central-a"], at: 2_400))).effects
        #expect(Set(steps(running).keys) == ["eu-central-1", "eu-central-2"])
        var now = 2_400
        var finished: Set<ShardID> = []
        while finished.count < 2, now < 3_000 {
            now += 10
            let out = driver.step(now: at(now), inputs: .init(completions: running.map(done)))
            for record in out.records where record.kind == "failover.done" { finished.insert(record.shard!) }
            running = out.effects.filter { if case .perform = $0.action { true } else { false } }
        }
        #expect(finished == ["eu-central-1", "eu-central-2"])
    }

    @Test func aFailedEffectComesBackAsAFailureAndIsRetriedAfterThePause() {
        let topology = Self.topology(shards: 1)
        var (driver, _) = leader(topology)
        let effect = zoneLoss(&driver, topology).effects[0]
        let failure = EffectFailure(.unreachable, "connection refused")
        let out = driver.step(now: at(1_200), inputs: .init(completions: [.init(effect: effect.id, outcome: .event(.stepFailed("eu-central-1", .epoch, failure)))]))
        #expect(out.records.map(\.kind) == ["failover.step-failed"])
        #expect(out.records[0].detail.contains("unreachable: connection refused"))
        #expect(out.effects.isEmpty)
        #expect(driver.step(now: at(2_100), inputs: .init()).effects.isEmpty, "retried before the pause")
        #expect(steps(driver.step(now: at(2_200), inputs: .init()).effects) == ["eu-central-1": .epoch])
    }

    @Test func aFailedSynchronousSetIsSentAgainAfterThePauseNotReportedAsDone() {
        let topology = Self.topology(shards: 1)
        var (driver, _) = leader(topology)
        // A rejoined standby outside the synchronous set asks for a new set.
        let c = NodeID(shard: "eu-central-1", zone: "eu-central-c")
        var snapshot = Self.snapshot(topology)
        snapshot = ControlSnapshot(
            shards: [.init(shard: "eu-central-1", epoch: 1, primary: topology.shards[0].nodes[0], synchronousSet: [topology.shards[0].nodes[1]])],
            needsRewind: [], openOperations: [], heldZones: [])
        _ = driver.step(now: at(0), inputs: .init(lease: .acquired(token: 8, snapshot: snapshot)))
        var first = probes(topology, down: [], at: 100)
        first = first.map { $0.node == c ? .init(node: c, probe: .unreachable, at: at(100)) : $0 }
        _ = driver.step(now: at(100), inputs: .init(probes: first))
        func fresh(_ ms: Int) -> [CoordinatorDriver.Probe] { first.map { .init(node: $0.node, probe: $0.probe, at: at(ms)) } }
        let rejoin = driver.step(now: at(1_200), inputs: .init(probes: fresh(1_200))).effects[0]
        let set = driver.step(now: at(1_300), inputs: .init(
            probes: fresh(1_300), completions: [.init(effect: rejoin.id, outcome: .event(.rejoined(c, following: topology.shards[0].nodes[0])))])).effects
        guard case .setSynchronousStandbys(_, let standbys, _)? = set.first?.action else {
            Issue.record("no synchronous set after the rejoin: \(set)")
            return
        }
        #expect(standbys.count == 2)
        let failed = driver.step(now: at(1_400), inputs: .init(probes: probes(topology, down: [], at: 1_400), completions: [
            .init(effect: set[0].id, outcome: .event(.synchronousStandbysFailed(topology.shards[0].nodes[0], EffectFailure(.timedOut, "no answer")))),
        ]))
        #expect(failed.records.map(\.kind) == ["synchronous-standbys.failed"])
        #expect(driver.step(now: at(2_300), inputs: .init(probes: probes(topology, down: [], at: 2_300))).effects.isEmpty)
        let again = driver.step(now: at(2_400), inputs: .init(probes: probes(topology, down: [], at: 2_400))).effects
        #expect(again.count == 1 && again.first?.lane == .shard("eu-central-1"))
    }

    @Test func aLostLeaseStopsEveryEffectAndOutcomesOfTheOldTermAreDropped() {
        let topology = Self.topology(shards: 3)
        var (driver, _) = leader(topology)
        let running = zoneLoss(&driver, topology).effects
        #expect(running.count == 3)
        let lost = driver.step(now: at(1_200), inputs: .init(completions: [.init(effect: running[0].id, outcome: .leaseLost)]))
        #expect(lost.leaseLost)
        #expect(driver.token == nil)
        #expect(lost.effects.isEmpty)
        // A new term restores from the journal; the old term's outcomes change nothing.
        let operations = topology.shards.map {
            ShardOperation(kind: .failover, shard: $0.id, from: $0.nodes[0], to: $0.nodes[1], epoch: 2, standbys: [$0.nodes[2]], step: .epoch)
        }
        let resumed = driver.step(now: at(1_300), inputs: .init(lease: .acquired(token: 9, snapshot: Self.snapshot(topology, operations: operations))))
        #expect(resumed.records.filter { $0.kind == "failover.resumed" }.count == 3)
        // Shards 2 and 3's lanes still hold the old term's effects: theirs wait for them.
        #expect(steps(resumed.effects).keys.sorted() == ["eu-central-1"])
        let stale = driver.step(now: at(1_400), inputs: .init(completions: running.dropFirst().map(done)))
        #expect(stale.records.isEmpty, "an outcome of the old term reached Core")
        #expect(Set(steps(stale.effects).keys) == ["eu-central-2", "eu-central-3"])
        #expect(stale.effects.allSatisfy { if case .perform(_, 9) = $0.action { true } else { false } })
    }

    @Test func aRequestWaitsForProbesOfItsTargetThenIsAnsweredOnce() {
        let topology = Self.topology(shards: 1)
        var (driver, _) = leader(topology)
        let request = CoordinatorDriver.Request(id: 41, kind: .switchover, shard: "eu-central-1", zone: "eu-central-b")
        #expect(driver.step(now: at(100), inputs: .init(requests: [request])).answers.isEmpty)
        let accepted = driver.step(now: at(200), inputs: .init(probes: probes(topology, down: [], at: 200), requests: [request]))
        #expect(accepted.answers.map(\.state) == [.accepted])
        #expect(steps(accepted.effects) == ["eu-central-1": .drain])
        // Still pending in the store until the answer is written: not decided twice.
        #expect(driver.step(now: at(210), inputs: .init(requests: [request])).answers.isEmpty)
        var running = accepted.effects
        var now = 210
        var answers: [CoordinatorDriver.Answer] = []
        while !running.isEmpty {
            now += 10
            let out = driver.step(now: at(now), inputs: .init(completions: running.map(done)))
            answers += out.answers
            running = out.effects
        }
        #expect(answers.map(\.state) == [.done])
        #expect(answers.first?.text == "eu-central-1/eu-central-b is primary")
    }

    @Test func aRequestForATargetNeverSeenIsDecidedAfterFiveSecondsAndRefused() {
        let topology = Self.topology(shards: 1)
        var (driver, _) = leader(topology)
        let request = CoordinatorDriver.Request(id: 42, kind: .switchover, shard: "eu-central-1", zone: "eu-central-c")
        #expect(driver.step(now: at(100), inputs: .init(requests: [request])).answers.isEmpty)
        #expect(driver.step(now: at(5_000), inputs: .init(requests: [request])).answers.isEmpty)
        let out = driver.step(now: at(5_100), inputs: .init(requests: [request]))
        #expect(out.answers.map(\.state) == [.refused])
        #expect(out.answers.first?.text.contains("not a reachable, streaming standby") == true)
    }

    @Test func aRejoinThatFinishesAfterAFailoverIsRepointedToTheNewPrimary() {
        let topology = Self.topology(shards: 1)
        var coordinator = Coordinator(topology: topology, restoring: Self.snapshot(topology))
        let shard = topology.shards[0]
        _ = coordinator.handle(.leaseAcquired(token: 3), now: at(0))
        // The shard's primary is now b (a failover ran while c was being rejoined to a).
        var operation = ShardOperation(kind: .failover, shard: shard.id, from: shard.nodes[0], to: shard.nodes[1], epoch: 2, standbys: [shard.nodes[2]], step: .epoch)
        coordinator = Coordinator(topology: topology, restoring: ControlSnapshot(
            shards: [.init(shard: shard.id, epoch: 1, primary: shard.nodes[0], synchronousSet: Array(shard.nodes.dropFirst()))],
            needsRewind: [], openOperations: [operation], heldZones: []))
        _ = coordinator.handle(.leaseAcquired(token: 3), now: at(0))
        while operation.step != .done {
            _ = coordinator.handle(.stepDone(shard.id, operation.step), now: at(10))
            operation.step = operation.step.next(for: .failover)
        }
        #expect(coordinator.shards[shard.id]?.primary == shard.nodes[1])
        let actions = coordinator.handle(.rejoined(shard.nodes[2], following: shard.nodes[0]), now: at(20))
        #expect(actions.contains(.rejoin(shard.nodes[2], primary: shard.nodes[1], rewind: false, token: 3)))
    }
}
