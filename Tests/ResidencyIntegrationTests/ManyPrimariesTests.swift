import Foundation
import Logging
import ResidencyChaos
import ResidencyConfig
import ResidencyCore
import ResidencyRuntime
import Testing

/// A region of six shards whose primaries all start in one zone (each shard lists its
/// zones: pinned). That zone loses power under one writer per shard: all six fail over at
/// once, every shard's RTO is measured and no acknowledged write is lost; then `rebalance`
/// spreads the primaries over the zones again.
@Suite(.serialized) struct ManyPrimariesTests {
    static let shards = 6
    let topology: TestTopology

    init() throws { topology = try ManyPrimariesTopology.get() }

    @Test func aZoneHoldingSixPrimariesLosesPowerAndEveryShardFailsOverWithNoAcknowledgedWriteLost() throws {
        let before = try topology.control().shards()
        #expect(before.count == Self.shards)
        #expect(Set(before.map(\.primary.zone)) == ["many-a"], "pinned primaries did not all start in many-a")
        // One tenant per shard, so every shard has a writer and an RTO.
        let tenants = try topology.control().tenants()
        #expect(Set(tenants.map(\.shard)).count == Self.shards, "tenants: \(tenants.map { "\($0.id)@\($0.shard)" })")

        let text = """
            name: zone-loss-six-primaries
            description: test
            topology: \(topology.topologyDirectory)
            duration_s: 12
            tenants:
            \((1...Self.shards).map { "  - name: many-\($0)\n    realm: r0" }.joined(separator: "\n"))
            faults:
              - at_s: 3
                action: power-loss
                primary_of: many-1
              - at_s: 10
                action: heal
            targets:
              rto_max_s: 10
              rpo_max: 0
              sla_tier: premium
            """
        let loaded = try ScenarioLoader.load(file: "six.yaml", text: text)
        let loadedTopology = try TopologyLoader.load(directory: topology.topologyDirectory)
        try ScenarioLoader.check(loaded, against: loadedTopology, file: "six.yaml")
        let result = try Drill(scenario: loaded.scenario, topology: loadedTopology, topologyDirectory: topology.topologyDirectory,
                               state: StateDirectory(option: topology.statePath), logger: Logger(label: "test.drill"),
                               executable: TestTopology.executable).run()
        #expect(result.checker.lostAcknowledged == 0)
        #expect(result.checker.duplicates.isEmpty)
        let measured = result.checker.recoveryByShard.compactMapValues { $0 }
        #expect(measured.count == Self.shards, "RTO measured for \(measured.keys.sorted()) only")
        #expect(Set(result.history.promotions.map(\.node.shard)).count == Self.shards)
        #expect(result.history.promotions.allSatisfy { $0.node.zone != "many-a" })
        #expect(result.verdict.passed, "\(result.verdict.checks.filter { !$0.held })")
        #expect(try topology.control().shards().allSatisfy { $0.primary.zone != "many-a" })
    }

    @Test func rebalanceSpreadsThePrimariesOverTheZonesOneSwitchoverAtATime() throws {
        let coordinator = try topology.startCoordinator()
        defer { topology.stopCoordinator(coordinator) }
        #expect(try topology.waitForLeader())
        #expect(try topology.waitHealthy(90))
        let plan = try topology.residency(["rebalance", "--dry-run", "--json"])
        #expect(plan.status == 0, "\(plan.text)")
        let counts = { () throws -> [String: Int] in
            Dictionary(grouping: try topology.control().shards(), by: { $0.primary.zone.rawValue }).mapValues(\.count)
        }
        let before = try counts()
        #expect(try counts() == before, "a dry run switched something over")
        let unbalanced = (before.values.max() ?? 0) - (["many-a", "many-b", "many-c"].map { before[$0] ?? 0 }.min() ?? 0) > 1
        #expect(plan.text.contains("\"planned\"") == unbalanced, "\(plan.text)")
        let done = try topology.residency(["rebalance", "--region", "many"])
        #expect(done.status == 0, "\(done.text)")
        let after = try counts()
        #expect(["many-a", "many-b", "many-c"].allSatisfy { after[$0] == 2 }, "spread after rebalance: \(after)")
        let status = try topology.residency(["status"])
        #expect(status.text.contains("primaries by zone: many-a 2, many-b 2, many-c 2"), "\(status.text)")
        let again = try topology.residency(["rebalance", "--region", "many"])
        #expect(again.status == 0 && again.text.contains("already spread evenly"), "\(again.text)")
        #expect(try topology.residency(["rebalance", "--region", "nowhere"]).status == 65)
    }
}

enum ManyPrimariesTopology {
    private static let instance = TestTopology.shared(
        regions: ["many"], tenants: (1...ManyPrimariesTests.shards).map { ("many-\($0)", "r0") }, shards: ManyPrimariesTests.shards,
        pinnedPrimaries: true)

    static func get() throws -> TestTopology { try instance.get() }
}
