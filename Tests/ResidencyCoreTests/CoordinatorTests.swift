import ResidencyCore
import Testing

/// The six safety rules of promotion, one test each, plus the timing that keeps short
/// freezes from failing a primary over.
@Suite struct CoordinatorTests {
    let topology = TopologyExample.topology
    let shardID: ShardID = "us-east-1"
    var shard: Shard { topology.shard(shardID)! }
    var a: NodeID { shard.nodes[0] }
    var b: NodeID { shard.nodes[1] }
    var c: NodeID { shard.nodes[2] }

    func at(_ ms: Int) -> Instant { Instant(.milliseconds(ms)) }

    func standby(_ lsn: UInt64, upstream: Int? = nil, since: Duration? = nil) -> NodeProbe {
        .reachable(NodeReport(inRecovery: true, receivedLSN: LSN(lsn), upstreamPort: upstream, sinceUpstreamMessage: since))
    }

    let primaryReport = NodeProbe.reachable(NodeReport(inRecovery: false, currentLSN: LSN(0x900)))

    /// A leader with every shard healthy: primary in zone a, synchronous set {b, c}.
    func leader() -> Coordinator {
        var shards: [ShardID: ShardState] = [:]
        for shard in topology.shards {
            shards[shard.id] = ShardState(epoch: 1, primary: shard.nodes[0], synchronousSet: Array(shard.nodes.dropFirst()))
        }
        var coordinator = Coordinator(topology: topology, shards: shards, heldZones: [])
        _ = coordinator.handle(.leaseAcquired(token: 7), now: at(0))
        return coordinator
    }

    func operations(_ actions: [Coordinator.Action]) -> [ShardOperation] {
        actions.compactMap { if case let .perform(operation, _) = $0 { operation } else { nil } }
    }

    /// The event-log records about the shard under test (the example topology's other
    /// shards get no probes, so they count as failed and refused).
    func records(_ actions: [Coordinator.Action]) -> [CoordinatorRecord] {
        actions.compactMap { if case let .record(record) = $0, record.shard == shardID { record } else { nil } }
    }

    /// Runs an operation's steps to the end, collecting them in order.
    func drive(_ coordinator: inout Coordinator, from first: ShardOperation, now: Instant) -> [ShardOperation.Step] {
        var steps = [first.step]
        var current = first
        while true {
            let next = operations(coordinator.handle(.stepDone(current.shard, current.step), now: now))
            guard let operation = next.first else { return steps }
            steps.append(operation.step)
            current = operation
        }
    }

    // Rule 1

    @Test func aCandidateInAnotherRegionIsRefused() {
        let elsewhere = NodeID(shard: shardID, zone: "eu-central-a")
        #expect(!FailoverRules.isCandidate(elsewhere, for: shard, primary: a, in: topology))
        #expect(!FailoverRules.isCandidate(NodeID(shard: "eu-central-1", zone: "eu-central-b"), for: shard, primary: a, in: topology))
        #expect(!FailoverRules.isCandidate(a, for: shard, primary: a, in: topology))
        #expect(FailoverRules.isCandidate(b, for: shard, primary: a, in: topology))
        var coordinator = leader()
        _ = coordinator.handle(.probed(b, standby(0x500), at: at(10)), now: at(10))
        let actions = coordinator.handle(.switchoverRequested(shardID, to: "eu-central-b"), now: at(20))
        #expect(operations(actions).isEmpty)
        #expect(records(actions).first?.kind == "switchover.refused")
    }

    // Rule 2

    @Test func withOneZoneDownTheStandbyWithTheHighestReceivedLSNIsPromoted() {
        var coordinator = leader()
        _ = coordinator.handle(.probed(a, .unreachable, at: at(200)), now: at(200))
        _ = coordinator.handle(.probed(b, standby(0x500), at: at(1_050)), now: at(1_050))
        let actions = coordinator.handle(.probed(c, standby(0x600), at: at(1_060)), now: at(1_060))
        let operation = operations(actions).first
        #expect(operation?.to == c)
        #expect(operation?.kind == .failover)
        #expect(operation?.standbys == [b])
    }

    @Test func ruleTwoOnItsOwnPicksTheHighestLSNTiesInSetOrderAndWaitsForStaleMembers() {
        func reachable(_ node: NodeID, _ lsn: UInt64, fresh: Bool = true) -> FailoverRules.Reachable {
            .init(node: node, receivedLSN: LSN(lsn), fresh: fresh)
        }
        #expect(FailoverRules.provenCandidate(synchronousSet: [b, c], reachable: [reachable(b, 5), reachable(c, 6)]) == .success(c))
        #expect(FailoverRules.provenCandidate(synchronousSet: [c, b], reachable: [reachable(b, 6), reachable(c, 6)]) == .success(c))
        #expect(FailoverRules.provenCandidate(synchronousSet: [b, c], reachable: [reachable(b, 9), reachable(c, 6, fresh: false)])
            == .failure(.awaitingFreshProbes))
        #expect(FailoverRules.provenCandidate(synchronousSet: [b, c], reachable: [reachable(b, 9)]) == .failure(.synchronousMemberUnreachable([c])))
        #expect(FailoverRules.provenCandidate(synchronousSet: [b, c], reachable: []) == .failure(.noCandidate))
        #expect(FailoverRules.provenCandidate(synchronousSet: [c], reachable: [reachable(b, 9), reachable(c, 1)]) == .success(c))
        #expect(FailoverRules.newSynchronousSet(for: c, members: [a, b, c], remaining: []) == [a, b])
        #expect(FailoverRules.newSynchronousSet(for: c, members: [a, b, c], remaining: [b]) == [b])
    }

    @Test func withTwoZonesDownAtOncePromotionIsRefusedAndAForcedOneIsRecordedAsSuch() {
        var coordinator = leader()
        _ = coordinator.handle(.probed(a, .unreachable, at: at(200)), now: at(200))
        _ = coordinator.handle(.probed(c, .unreachable, at: at(200)), now: at(200))
        let actions = coordinator.handle(.probed(b, standby(0x500), at: at(1_100)), now: at(1_100))
        #expect(operations(actions).isEmpty)
        #expect(records(actions).map(\.kind) == ["failover.refused"])
        #expect(records(coordinator.handle(.tick, now: at(1_300))).isEmpty, "the refusal is recorded once")

        let forced = coordinator.handle(.failoverForced(shardID, to: "us-east-b"), now: at(1_400))
        #expect(operations(forced).first?.kind == .forcedFailover)
        #expect(operations(forced).first?.to == b)
        #expect(records(forced).first?.detail.contains("FORCED by an operator") == true)
    }

    @Test func theSoleRemainingMemberOfASynchronousSetMayBePromoted() {
        var coordinator = leader()
        // First failover: a is lost, b is promoted with {c} as its synchronous set.
        _ = coordinator.handle(.probed(a, .unreachable, at: at(100)), now: at(100))
        _ = coordinator.handle(.probed(b, standby(0x600), at: at(1_050)), now: at(1_050))
        let first = operations(coordinator.handle(.probed(c, standby(0x500), at: at(1_060)), now: at(1_060))).first!
        #expect(first.to == b && first.standbys == [c])
        _ = drive(&coordinator, from: first, now: at(1_100))
        #expect(coordinator.shards[shardID]?.synchronousSet == [c])
        // Then b's zone is lost too: c alone held every acknowledged commit.
        _ = coordinator.handle(.probed(a, .unreachable, at: at(2_000)), now: at(2_000))
        _ = coordinator.handle(.probed(b, .unreachable, at: at(2_000)), now: at(2_000))
        let second = operations(coordinator.handle(.probed(c, standby(0x700), at: at(3_100)), now: at(3_100))).first
        #expect(second?.to == c)
        #expect(second?.epoch == 3)
        #expect(second?.standbys == [a, b], "no standby remains: commits wait for one to come back")
    }

    // Rules 3 and 4

    @Test func theEpochIsBumpedBeforePromotion() {
        var coordinator = leader()
        _ = coordinator.handle(.probed(a, .unreachable, at: at(100)), now: at(100))
        _ = coordinator.handle(.probed(b, standby(0x600), at: at(1_050)), now: at(1_050))
        let operation = operations(coordinator.handle(.probed(c, standby(0x500), at: at(1_060)), now: at(1_060))).first!
        #expect(operation.epoch == 2)
        let steps = drive(&coordinator, from: operation, now: at(1_100))
        #expect(steps.firstIndex(of: .epoch)! < steps.firstIndex(of: .promote)!)
        #expect(coordinator.shards[shardID]?.epoch == 2)
        #expect(coordinator.shards[shardID]?.primary == b)
    }

    @Test func theCandidateGetsItsNewSynchronousStandbysBeforeItIsPromoted() {
        var coordinator = leader()
        _ = coordinator.handle(.probed(a, .unreachable, at: at(100)), now: at(100))
        _ = coordinator.handle(.probed(b, standby(0x600), at: at(1_050)), now: at(1_050))
        let operation = operations(coordinator.handle(.probed(c, standby(0x500), at: at(1_060)), now: at(1_060))).first!
        let steps = drive(&coordinator, from: operation, now: at(1_100))
        #expect(steps == [.epoch, .synchronousStandbys, .repoint, .promote, .fence])
    }

    // Rule 5

    @Test func aFormerPrimaryThatReappearsIsFencedBeforeAnythingElse() {
        var coordinator = leader()
        _ = coordinator.handle(.probed(a, .unreachable, at: at(100)), now: at(100))
        _ = coordinator.handle(.probed(b, standby(0x600), at: at(1_050)), now: at(1_050))
        let operation = operations(coordinator.handle(.probed(c, standby(0x500), at: at(1_060)), now: at(1_060))).first!
        _ = drive(&coordinator, from: operation, now: at(1_100))
        let actions = coordinator.handle(.probed(a, primaryReport, at: at(5_000)), now: at(5_000))
        let nodeActions = actions.filter { if case .record = $0 { false } else { true } }
        #expect(nodeActions == [.fence(a, token: 7)], "\(actions)")
        #expect(coordinator.shards[shardID]?.needsRewind.contains(a) == true)
        // Once fenced (down), it rejoins only with a rewind.
        _ = coordinator.handle(.fenced(a), now: at(5_100))
        var later = coordinator.handle(.probed(a, .unreachable, at: at(5_200)), now: at(5_200))
        later += coordinator.handle(.probed(b, primaryReport, at: at(6_200)), now: at(6_200))
        later += coordinator.handle(.probed(c, standby(0x900), at: at(6_200)), now: at(6_200))
        later += coordinator.handle(.tick, now: at(6_300))
        #expect(later.contains(.rejoin(a, primary: b, rewind: true, token: 7)))
    }

    @Test func afterARefusalTheZonesThatComeBackComeBackAsTheyWereThePrimaryInPlace() {
        var coordinator = leader()
        _ = coordinator.handle(.zoneHeld("us-east-a"), now: at(0))
        _ = coordinator.handle(.zoneHeld("us-east-c"), now: at(0))
        _ = coordinator.handle(.probed(a, .unreachable, at: at(200)), now: at(200))
        _ = coordinator.handle(.probed(c, .unreachable, at: at(200)), now: at(200))
        _ = coordinator.handle(.probed(b, standby(0x500), at: at(1_100)), now: at(1_100))
        #expect(records(coordinator.handle(.tick, now: at(1_200))).isEmpty, "refused once already")
        _ = coordinator.handle(.zoneReleased("us-east-a"), now: at(2_000))
        _ = coordinator.handle(.zoneReleased("us-east-c"), now: at(2_000))
        let early = coordinator.handle(.tick, now: at(2_100))
        #expect(early.contains(.rejoin(c, primary: a, rewind: false, token: 7)), "standbys come back at once")
        #expect(!early.contains(.rejoin(a, primary: a, rewind: false, token: 7)), "not the primary while the refusal may be transient")
        let later = coordinator.handle(.tick, now: at(6_200))
        #expect(later.contains(.rejoin(a, primary: a, rewind: false, token: 7)), "the primary restarts in place")
        #expect(operations(early + later).isEmpty, "nothing is promoted")
    }

    @Test func aNodeMarkedForRewindThatStreamsFromThePrimaryIsConfirmedNotBarred() {
        let shardState = ShardState(epoch: 3, primary: a, synchronousSet: [b, c], needsRewind: [b])
        var coordinator = Coordinator(topology: topology, shards: [shardID: shardState], heldZones: [])
        _ = coordinator.handle(.leaseAcquired(token: 9), now: at(0))
        let port = topology.port(of: a)!
        let actions = coordinator.handle(.probed(b, standby(0x500, upstream: port, since: .milliseconds(20)), at: at(100)), now: at(100))
        #expect(actions == [.confirmRejoined(b, primary: a, token: 9)])
        _ = coordinator.handle(.rejoined(b, following: a), now: at(150))
        #expect(coordinator.shards[shardID]?.needsRewind.isEmpty == true)
        // Not streaming from the primary: it stays marked.
        var other = Coordinator(topology: topology, shards: [shardID: shardState], heldZones: [])
        _ = other.handle(.leaseAcquired(token: 9), now: at(0))
        #expect(other.handle(.probed(b, standby(0x500), at: at(100)), now: at(100)).isEmpty)
    }

    // Rule 6 (never across regions)

    @Test func aShardWhoseWholeRegionIsDownStaysDown() {
        var coordinator = leader()
        for node in [a, b, c] { _ = coordinator.handle(.probed(node, .unreachable, at: at(100)), now: at(100)) }
        let actions = coordinator.handle(.tick, now: at(1_200))
        #expect(operations(actions).isEmpty)
        #expect(records(actions).first?.detail.hasPrefix("no standby of the shard's region is reachable") == true)
    }

    // Leadership

    @Test func aCoordinatorWhoseLeaseIsLostActsOnNoNode() {
        var coordinator = leader()
        _ = coordinator.handle(.leaseLost, now: at(50))
        var actions: [Coordinator.Action] = []
        actions += coordinator.handle(.probed(a, .unreachable, at: at(100)), now: at(100))
        actions += coordinator.handle(.probed(b, standby(0x600), at: at(1_050)), now: at(1_050))
        actions += coordinator.handle(.probed(c, standby(0x500), at: at(1_060)), now: at(1_060))
        actions += coordinator.handle(.tick, now: at(5_000))
        actions += coordinator.handle(.switchoverRequested(shardID, to: "us-east-b"), now: at(5_100))
        #expect(actions.allSatisfy { if case .record = $0 { true } else { false } })
        #expect(operations(actions).isEmpty)
    }

    @Test func everyNodeActionCarriesTheTokenItWasDecidedUnder() {
        var coordinator = leader()
        _ = coordinator.handle(.probed(a, .unreachable, at: at(100)), now: at(100))
        _ = coordinator.handle(.probed(b, standby(0x600), at: at(1_050)), now: at(1_050))
        let actions = coordinator.handle(.probed(c, standby(0x500), at: at(1_060)), now: at(1_060))
        #expect(actions.contains { if case .perform(_, token: 7) = $0 { true } else { false } })
    }

    @Test func anOpenOperationIsResumedByTheNextLeader() {
        let open = ShardOperation(kind: .failover, shard: shardID, from: a, to: b, epoch: 2, standbys: [c], step: .promote)
        var coordinator = Coordinator(
            topology: topology,
            shards: [shardID: ShardState(epoch: 2, primary: b, synchronousSet: [c], operation: open)], heldZones: [])
        let actions = coordinator.handle(.leaseAcquired(token: 8), now: at(0))
        #expect(operations(actions) == [open])
    }

    // Timing

    @Test func aShortFreezeOfThePrimaryCausesNoFailover() {
        var coordinator = leader()
        _ = coordinator.handle(.probed(a, primaryReport, at: at(1_000)), now: at(1_000))
        _ = coordinator.handle(.probed(a, .unreachable, at: at(1_400)), now: at(1_400))
        _ = coordinator.handle(.probed(b, standby(0x500), at: at(1_500)), now: at(1_500))
        _ = coordinator.handle(.probed(c, standby(0x500), at: at(1_500)), now: at(1_500))
        var actions = coordinator.handle(.probed(a, .unreachable, at: at(1_800)), now: at(1_800))
        actions += coordinator.handle(.probed(a, primaryReport, at: at(1_900)), now: at(1_900))
        actions += coordinator.handle(.tick, now: at(2_500))
        #expect(operations(actions).isEmpty)
    }

    @Test func aStandbyThatStillHearsThePrimaryVetoesTheFailover() {
        var coordinator = leader()
        let port = topology.port(of: a)!
        _ = coordinator.handle(.probed(a, .unreachable, at: at(100)), now: at(100))
        _ = coordinator.handle(.probed(b, standby(0x600, upstream: port, since: .milliseconds(50)), at: at(1_050)), now: at(1_050))
        let actions = coordinator.handle(.probed(c, standby(0x500, upstream: port, since: .milliseconds(80)), at: at(1_060)), now: at(1_060))
        #expect(operations(actions).isEmpty)
    }

    // backup restore --promote

    @Test func aRestoreIsRefusedWhileThePrimaryAnswersUnlessForcedAndRebuildsEveryOtherMember() {
        var coordinator = leader()
        _ = coordinator.handle(.probed(a, primaryReport, at: at(100)), now: at(100))
        let refused = coordinator.handle(.restoreRequested(shardID, to: "us-east-a", force: false), now: at(150))
        #expect(operations(refused).isEmpty)
        #expect(records(refused).map(\.kind) == ["restore.refused"])
        #expect(records(refused).first?.detail.contains("--force") == true)
        let elsewhere = coordinator.handle(.restoreRequested(shardID, to: "eu-central-a", force: true), now: at(160))
        #expect(operations(elsewhere).isEmpty, "a zone outside the shard is refused even when forced")

        let forced = coordinator.handle(.restoreRequested(shardID, to: "us-east-b", force: true), now: at(200))
        let operation = try! #require(operations(forced).first)
        #expect(operation.kind == .restore && operation.from == a && operation.to == b && operation.epoch == 2)
        #expect(operation.standbys == [a, c])
        #expect(records(forced).first?.detail.contains("FORCED") == true)
        #expect(operations(coordinator.handle(.restoreRequested(shardID, to: "us-east-c", force: true), now: at(210))).isEmpty,
                "one operation at a time")
        // Fenced before installed, installed before started: no old member takes a write once the restored primary does.
        #expect(drive(&coordinator, from: operation, now: at(300)) == [.epoch, .fence, .install, .promote])
        let state = try! #require(coordinator.state(of: shardID))
        #expect(state.primary == b && state.epoch == 2 && state.operation == nil)
        #expect(state.needsRewind == [a, c], "every other member holds the old data")
        // Once down long enough, both are rejoined from the restored primary with a rewind.
        _ = coordinator.handle(.probed(b, primaryReport, at: at(400)), now: at(400))
        _ = coordinator.handle(.probed(a, .unreachable, at: at(400)), now: at(400))
        let rejoins = coordinator.handle(.probed(c, .unreachable, at: at(10_000)), now: at(10_000))
        #expect(rejoins.contains(.rejoin(a, primary: b, rewind: true, token: 7)))
        #expect(rejoins.contains(.rejoin(c, primary: b, rewind: true, token: 7)))
    }

    @Test func aRestoreOfAShardWhosePrimaryIsDownNeedsNoForce() {
        var coordinator = leader()
        _ = coordinator.handle(.probed(a, .unreachable, at: at(100)), now: at(100))
        let actions = coordinator.handle(.restoreRequested(shardID, to: "us-east-a", force: false), now: at(150))
        #expect(operations(actions).first?.kind == .restore)
        #expect(operations(actions).first?.to == a)
        #expect(operations(actions).first?.standbys == [b, c])
    }
}
