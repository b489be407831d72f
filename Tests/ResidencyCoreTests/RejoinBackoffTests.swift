import ResidencyCore
import Testing

/// Rejoins that keep failing back off; a zone where nothing answers is tried through one
/// node at a time; a round of repeated probes decides as a round of full probes; the
/// coordinator names the next instant at which time alone makes it act.
@Suite struct RejoinBackoffTests {
    /// One region of `shards` shards over zones big-a, big-b, big-c; primaries in big-a.
    static func topology(shards: Int) -> Topology {
        Topology(realms: [Realm(id: "all", regions: ["big"])], regions: [TopologyExample.region("big", shards: shards, port: 26_000)],
                 apps: [], failover: FailoverSettings(), serviceLevels: ServiceLevels(tiers: []), controlPort: 25_999)
    }

    static func leader(_ topology: Topology) -> Coordinator {
        var shards: [ShardID: ShardState] = [:]
        for shard in topology.shards {
            shards[shard.id] = ShardState(epoch: 1, primary: shard.nodes[0], synchronousSet: Array(shard.nodes.dropFirst()))
        }
        var coordinator = Coordinator(topology: topology, shards: shards, heldZones: [])
        _ = coordinator.handle(.leaseAcquired(token: 7), now: .origin)
        return coordinator
    }

    /// What a probe of `node` sees: nothing when it is in `down`; the shard's first node as
    /// a primary; a standby streaming from it, or silent while it is down.
    static func probe(_ node: NodeID, in topology: Topology, down: Set<NodeID>) -> NodeProbe {
        guard !down.contains(node) else { return .unreachable }
        let shard = topology.shard(node.shard)!
        if node == shard.nodes[0] { return .reachable(NodeReport(inRecovery: false, currentLSN: LSN(0x900))) }
        if down.contains(shard.nodes[0]) { return .reachable(NodeReport(inRecovery: true, receivedLSN: LSN(0x900), sinceUpstreamMessage: .seconds(5))) }
        let port = topology.regions.flatMap(\.nodePorts).first { $0.node == shard.nodes[0] }?.port
        return .reachable(NodeReport(inRecovery: true, receivedLSN: LSN(0x900), upstreamPort: port, sinceUpstreamMessage: .zero))
    }

    /// One probe round of every node, then a tick.
    static func round(_ coordinator: inout Coordinator, _ topology: Topology, at now: Instant, down: Set<NodeID>) -> [Coordinator.Action] {
        let probes = topology.nodes.map { Coordinator.Probe(node: $0, probe: probe($0, in: topology, down: down), at: now) }
        return coordinator.handle(.probes(probes), now: now) + coordinator.handle(.tick, now: now)
    }

    static func rejoined(_ actions: [Coordinator.Action]) -> [NodeID] {
        actions.compactMap { if case let .rejoin(node, _, _, _) = $0 { node } else { nil } }
    }

    static let failure = EffectFailure(.unreachable, "no answer")

    @Test func aNodeWhoseRejoinKeepsFailingIsTriedLessAndLessOften() {
        let topology = Self.topology(shards: 2)
        var coordinator = Self.leader(topology)
        // Only big-1's standby in big-c is down: its zone still answers (big-2's node there).
        let broken = topology.shards[0].nodes[2]
        var attempts: [Int] = []
        for ms in stride(from: 0, through: 200_000, by: 200) {
            let now = Instant(.milliseconds(ms))
            for node in Self.rejoined(Self.round(&coordinator, topology, at: now, down: [broken])) {
                #expect(node == broken)
                attempts.append(ms)
                _ = coordinator.handle(.rejoinFailed(node, Self.failure), now: now)
            }
        }
        let pauses = zip(attempts.dropFirst(), attempts).map { $0 - $1 }
        // retry_pause 1 s, doubled per failure, capped at 30 s; probes every 200 ms.
        #expect(Array(pauses.prefix(7)) == [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000], "\(pauses)")
    }

    @Test func aZoneWhereNothingAnswersIsTriedThroughOneNodeAtATime() {
        let topology = Self.topology(shards: 10)
        var coordinator = Self.leader(topology)
        let dark = Set(topology.nodes.filter { $0.zone == "big-c" })
        var now = Instant.origin
        var attempts: [(ms: Int, node: NodeID)] = []
        for ms in stride(from: 0, through: 40_000, by: 200) {
            now = Instant(.milliseconds(ms))
            let started = Self.rejoined(Self.round(&coordinator, topology, at: now, down: dark))
            #expect(started.count <= 1, "at \(ms) ms: \(started)")
            for node in started {
                attempts.append((ms, node))
                _ = coordinator.handle(.rejoinFailed(node, Self.failure), now: now)
            }
        }
        // The zone's backoff (1, 2, 4, 8, 16 s, ...) paces the tries, whichever node makes them.
        let pauses = zip(attempts.dropFirst(), attempts).map { $0.ms - $1.ms }
        #expect(Array(pauses.prefix(4)) == [1_000, 2_000, 4_000, 8_000], "\(pauses)")
        // Power is back: the next try succeeds, and every other node of the zone goes at once.
        var remaining = dark
        var ms = 40_000
        var next: [NodeID] = []
        while next.isEmpty, ms < 200_000 {
            ms += 200
            now = Instant(.milliseconds(ms))
            next = Self.rejoined(Self.round(&coordinator, topology, at: now, down: remaining))
        }
        #expect(next.count == 1)
        _ = coordinator.handle(.rejoined(next[0], following: topology.shard(next[0].shard)!.nodes[0]), now: now)
        remaining.remove(next[0])
        now = now + .milliseconds(200)
        let wave = Self.rejoined(Self.round(&coordinator, topology, at: now, down: remaining))
        #expect(Set(wave) == remaining, "the zone answers again: the other \(remaining.count) are rejoined together")
    }

    /// A round where only changed probes travel, the rest as `.probesRepeated`, decides
    /// exactly as a round of every probe, through a failover, fencing and rejoins.
    @Test func repeatedProbesDecideAsFullRounds() {
        let topology = Self.topology(shards: 3)
        var full = Self.leader(topology)
        var delta = Self.leader(topology)
        var last: [NodeID: NodeProbe] = [:]
        var rejoinedAt: [NodeID: Int] = [:]
        for ms in stride(from: 0, through: 30_000, by: 200) {
            let now = Instant(.milliseconds(ms))
            // Zone big-a is dark from 2 s to 12 s; its old primaries come back as primaries (to be fenced).
            var down: Set<NodeID> = ms >= 2_000 && ms < 12_000 ? Set(topology.nodes.filter { $0.zone == "big-a" }) : []
            for (node, at) in rejoinedAt where ms < at { down.insert(node) }
            let probes = topology.nodes.map { Coordinator.Probe(node: $0, probe: Self.probe($0, in: topology, down: down), at: now) }
            var fullActions = full.handle(.probes(probes), now: now)
            fullActions += full.handle(.tick, now: now)
            let changed = probes.filter { last[$0.node] != $0.probe }
            for probe in probes { last[probe.node] = probe.probe }
            var deltaActions = delta.handle(.probes(changed), now: now)
            deltaActions += delta.handle(.probesRepeated(at: now), now: now)
            deltaActions += delta.handle(.tick, now: now)
            #expect(Set(fullActions) == Set(deltaActions), "at \(ms) ms")
            #expect(fullActions.count == deltaActions.count, "at \(ms) ms")
            // Every effect succeeds at once, in both.
            var effects = fullActions
            while !effects.isEmpty {
                var next: [Coordinator.Action] = []
                for action in effects {
                    let event: Coordinator.Event? = switch action {
                    case let .perform(operation, _): .stepDone(operation.shard, operation.step)
                    case let .fence(node, _): .fenced(node)
                    case let .rejoin(node, primary, _, _): .rejoined(node, following: primary)
                    case let .confirmRejoined(node, primary, _): .rejoined(node, following: primary)
                    case let .setSynchronousStandbys(primary, standbys, _): .synchronousStandbysSet(primary, standbys: standbys)
                    case .record: nil
                    }
                    guard let event else { continue }
                    if case let .rejoin(node, _, _, _) = action { rejoinedAt[node] = ms + 1_000 }
                    let fromFull = full.handle(event, now: now)
                    #expect(Set(fromFull) == Set(delta.handle(event, now: now)), "at \(ms) ms after \(event)")
                    next += fromFull
                }
                effects = next
            }
        }
        #expect(full.shards == delta.shards)
        #expect(full.shards.values.allSatisfy { $0.epoch >= 2 }, "every shard failed over")
    }

    @Test func theNextWakeIsTheFirstInstantTimeAloneMakesItAct() {
        let topology = Self.topology(shards: 1)
        var coordinator = Self.leader(topology)
        _ = Self.round(&coordinator, topology, at: .origin, down: [])
        #expect(coordinator.nextWake(after: .origin) == nil, "all healthy: nothing waits on a timer")
        let primary = topology.shards[0].nodes[0]
        let now = Instant(.milliseconds(200))
        _ = Self.round(&coordinator, topology, at: now, down: [primary])
        // Last seen at 0: failover_after (1 s) and rejoin_after (1 s) run out at 1 s.
        #expect(coordinator.nextWake(after: now) == Instant(.milliseconds(1_000)))
    }
}
