import ResidencyCore
import Testing

@Suite struct TopologyDifferenceTests {
    @Test func anUnchangedTopologyHasNoDifference() {
        let facts = TopologyExample.topology.facts
        #expect(TopologyDifference.between(stored: facts, configured: facts).isEmpty)
    }

    @Test func listsAddedRemovedAndChangedSettingsInKeyOrder() {
        let stored = [TopologyFact(key: "a", value: "1"), TopologyFact(key: "b", value: "2"), TopologyFact(key: "c", value: "3")]
        let configured = [TopologyFact(key: "a", value: "1"), TopologyFact(key: "b", value: "20"), TopologyFact(key: "d", value: "4")]
        let differences = TopologyDifference.between(stored: stored, configured: configured)
        #expect(differences.map(\.description) == ["changed b: 2 -> 20", "removed c: 3", "added   d: 4"])
    }

    @Test func aMovedPortRangeIsADifference() {
        let base = TopologyExample.topology
        let moved = Topology(
            realms: base.realms, regions: [TopologyExample.region("us-east", port: 26410)] + base.regions.dropFirst(),
            apps: base.apps, failover: base.failover, serviceLevels: base.serviceLevels, controlPort: base.controlPort)
        let differences = TopologyDifference.between(stored: base.facts, configured: moved.facts)
        #expect(differences.map(\.key) == ["region us-east ports"])
    }
}
