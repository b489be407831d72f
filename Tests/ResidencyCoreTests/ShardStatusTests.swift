import ResidencyCore
import Testing

@Suite struct ShardStatusTests {
    let shard = Shard(id: "eu-central-1", region: "eu-central", zones: ["eu-central-a", "eu-central-b", "eu-central-c"])
    var primary: NodeID { shard.nodes[0] }
    var b: NodeID { shard.nodes[1] }
    var c: NodeID { shard.nodes[2] }

    func streaming(_ node: NodeID) -> StandbyReplication {
        StandbyReplication(applicationName: node.postgresName, state: "streaming", syncState: "quorum", replayLagBytes: 0)
    }

    func status(_ observations: [NodeObservation]) -> ShardStatus {
        ShardStatus(shard: shard, epoch: 1, primary: primary, ports: [:], observations: observations)
    }

    @Test func isHealthyWhenThePrimaryAnswersAndEveryStandbyStreams() {
        let status = status([
            NodeObservation(node: primary, reachable: true, inRecovery: false, standbys: [streaming(b), streaming(c)]),
            NodeObservation(node: b, reachable: true, inRecovery: true),
            NodeObservation(node: c, reachable: true, inRecovery: true),
        ])
        #expect(status.isHealthy)
        #expect(status.nodes.map(\.replication) == [.primary, .streaming, .streaming])
        #expect(status.nodes[1].syncState == "quorum")
    }

    @Test func anUnreachablePrimaryMakesTheShardUnhealthy() {
        let status = status([
            NodeObservation(node: primary, reachable: false, inRecovery: nil, error: "refused"),
            NodeObservation(node: b, reachable: true, inRecovery: true),
            NodeObservation(node: c, reachable: true, inRecovery: true),
        ])
        #expect(!status.isHealthy)
        #expect(status.problems.first == "primary eu-central-1/eu-central-a is unreachable")
    }

    @Test func aStandbyMissingFromThePrimarysReplicationIsNotStreaming() {
        let status = status([
            NodeObservation(node: primary, reachable: true, inRecovery: false, standbys: [streaming(b)]),
            NodeObservation(node: b, reachable: true, inRecovery: true),
            NodeObservation(node: c, reachable: true, inRecovery: true),
        ])
        #expect(status.problems == ["standby eu-central-1/eu-central-c is not streaming from eu-central-1/eu-central-a"])
        #expect(status.nodes[2].replication == .notStreaming)
    }

    @Test func aStandbyOutOfRecoveryIsReportedAsASecondPrimary() {
        let status = status([
            NodeObservation(node: primary, reachable: true, inRecovery: false, standbys: [streaming(b)]),
            NodeObservation(node: b, reachable: true, inRecovery: true),
            NodeObservation(node: c, reachable: true, inRecovery: false),
        ])
        #expect(status.problems == ["standby eu-central-1/eu-central-c is not in recovery: a second primary"])
    }

    @Test func aPrimaryInRecoveryIsNoPrimary() {
        let status = status([
            NodeObservation(node: primary, reachable: true, inRecovery: true),
            NodeObservation(node: b, reachable: true, inRecovery: true),
            NodeObservation(node: c, reachable: true, inRecovery: true),
        ])
        #expect(status.problems.contains("primary eu-central-1/eu-central-a is in recovery"))
    }
}
