import Foundation
import ResidencyConfig
import ResidencyCore
import Testing

/// What `ScenarioWriter` writes, `ScenarioLoader` reads back as the same scenario: every
/// shipped drill, and many rounds of `residency chaos`.
@Suite struct ScenarioWriterTests {
    static let root = ScenarioLoaderTests.root

    @Test func everyShippedScenarioRoundTrips() throws {
        for name in ScenarioLoaderTests.shipped {
            let scenario = try ScenarioLoader.load(file: Self.root.appendingPathComponent("simulations/\(name)").path).scenario
            let text = ScenarioWriter.yaml(scenario, comment: "written by a test\nsecond line")
            let again = try ScenarioLoader.load(file: name, text: text).scenario
            #expect(again == scenario, "\(name):\n\(text)")
        }
    }

    @Test func chaosRoundsAreValidScenariosOfTheirTopologyAndReplayTheSame() throws {
        let directory = Self.root.appendingPathComponent("regions").path
        let topology = try TopologyLoader.load(directory: directory)
        var kinds: Set<String> = []
        for round in 1...60 {
            let scenario = try #require(ChaosPlan.scenario(topology: topology, topologyDirectory: directory, seed: 11, round: round))
            #expect(scenario == ChaosPlan.scenario(topology: topology, topologyDirectory: directory, seed: 11, round: round), "the same seed and round draw the same")
            let file = "chaos-11-\(round).yaml"
            let loaded = try ScenarioLoader.load(file: file, text: ScenarioWriter.yaml(scenario))
            #expect(loaded.scenario == scenario)
            try ScenarioLoader.check(loaded, against: topology, file: file)
            // The first episode is a zone fault of a shard's primary; at most one zone is down at a time.
            let first = try #require(scenario.faults.first)
            #expect([.powerLoss, .partition].contains(first.action) && first.primaryOf != nil)
            var down = 0
            for fault in scenario.faults {
                if fault.action == .powerLoss || fault.action == .partition { down += 1 }
                if fault.action == .heal { down = 0 }
                #expect(down <= 1, "round \(round): two zones down at once")
            }
            #expect(scenario.faults.allSatisfy { $0.at <= scenario.duration })
            kinds.formUnion(scenario.summary.split(separator: ": ").last!.split(separator: ", ").map(String.init))
        }
        #expect(kinds == Set(ChaosPlan.Episode.allCases.map(\.rawValue)), "60 rounds draw every kind: \(kinds)")
        #expect(ChaosPlan.scenario(topology: topology, topologyDirectory: directory, seed: 12, round: 1)
            != ChaosPlan.scenario(topology: topology, topologyDirectory: directory, seed: 11, round: 1))
    }

    @Test func theDescriptionIsEscaped() throws {
        let base = try ScenarioLoader.load(file: Self.root.appendingPathComponent("simulations/zone-power-loss.yaml").path).scenario
        let tricky = Scenario(name: base.name, summary: "quote \" backslash \\ colon: # hash\nnew line \u{1B}[31m", topologyDirectory: base.topologyDirectory,
                              duration: base.duration, tenants: base.tenants, writersPerTenant: base.writersPerTenant, writePause: base.writePause,
                              faults: base.faults, rtoMax: base.rtoMax, rpoMax: base.rpoMax, slaTier: base.slaTier,
                              expectRefused: base.expectRefused, expectUnavailable: base.expectUnavailable)
        let text = ScenarioWriter.yaml(tricky)
        #expect(!text.contains("\u{1B}"))
        #expect(try ScenarioLoader.load(file: "t.yaml", text: text).scenario.summary == tricky.summary)
    }
}
