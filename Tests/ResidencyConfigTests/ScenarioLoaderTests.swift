import Foundation
import ResidencyConfig
import ResidencyCore
import Testing

@Suite struct ScenarioLoaderTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let shipped: [String] = {
        let folder = root.appendingPathComponent("simulations").path
        return ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".yaml") }.sorted()
    }()

    @Test func everyShippedScenarioLoadsAndNamesOnlyWhatItsTopologyHas() throws {
        #expect(Self.shipped.contains("move-under-load.yaml") && Self.shipped.contains("zone-loss-many-primaries.yaml"))
        for name in Self.shipped {
            let file = Self.root.appendingPathComponent("simulations/\(name)").path
            let loaded = try ScenarioLoader.load(file: file)
            let directory = Self.root.appendingPathComponent("simulations").appendingPathComponent(loaded.scenario.topologyDirectory).path
            let topology = try TopologyLoader.load(directory: directory)
            try ScenarioLoader.check(loaded, against: topology, file: file)
        }
    }

    @Test func theManyPrimariesScenarioHitsAZoneHoldingSixPrimaries() throws {
        let loaded = try ScenarioLoader.load(file: Self.root.appendingPathComponent("simulations/zone-loss-many-primaries.yaml").path)
        let topology = try TopologyLoader.load(directory: Self.root.appendingPathComponent("regions-examples/many-primaries").path)
        let zone = topology.shard("eu-central-1")!.primaryZone
        #expect(topology.region("eu-central")!.shards.filter { $0.primaryZone == zone }.count >= 6)
        #expect(loaded.scenario.tenants.count >= 6)
        #expect(loaded.scenario.rtoMax == .seconds(2))
    }

    @Test func theMoveScenariosSayWhoMovesWhereAndWhatTheyExpect() throws {
        let underLoad = try ScenarioLoader.load(file: Self.root.appendingPathComponent("simulations/move-under-load.yaml").path).scenario
        #expect(underLoad.faults.compactMap(\.move) == [Scenario.MoveOrder(tenant: TenantID(validating: "drill-mover")!, toRealm: "eu", toRegion: nil, expect: .done)])
        #expect(underLoad.tenants.first { $0.name.rawValue == "drill-mover" }.map { ($0.realm, $0.region, $0.seedRows > 0) } ?? ("", nil, false) == ("global", "us-east", true))
        #expect(underLoad.moveGapMax == .milliseconds(2000) && underLoad.expectNeighboursUnaffected)
        let zoneLoss = try ScenarioLoader.load(file: Self.root.appendingPathComponent("simulations/move-with-zone-loss.yaml").path).scenario
        #expect(zoneLoss.faults.map(\.action) == [.move, .powerLoss, .heal, .move])
        #expect(zoneLoss.faults[1].atMovePhase == .prepared && zoneLoss.faults[1].primaryOf == "us-east-1")
        #expect(zoneLoss.faults.compactMap(\.move?.expect) == [.rolledBack, .done])
    }

    func problems(_ faults: String, extra: String = "") -> [String] {
        let text = """
            name: t
            topology: ../regions
            duration_s: 30
            tenants:
              - name: mover
                realm: global
            faults:
            \(faults)
            targets:
              rto_max_s: 3
            \(extra)
            """
        do {
            _ = try ScenarioLoader.load(file: "t.yaml", text: text)
            return []
        } catch {
            return error.problems.map(\.description)
        }
    }

    @Test func badMoveActionsAreRefusedAtTheirPosition() {
        #expect(problems("  - at_s: 3\n    action: move\n    to: eu") == ["t.yaml:8:5: a move needs `tenant` and `to` (a realm)"])
        #expect(problems("  - at_s: 3\n    action: move\n    tenant: stranger\n    to: eu")
            == ["t.yaml:10:13: tenant 'stranger' is not one of the scenario's tenants (mover)"])
        #expect(problems("  - at_s: 3\n    action: move\n    tenant: mover\n    to: eu\n    expect: maybe")
            == ["t.yaml:12:13: a move ends `done`, `rolled-back` or `ended` (either, by itself), not 'maybe'"])
        #expect(problems("  - at_s: 3\n    action: heal\n    tenant: mover") == ["t.yaml:10:5: `tenant` belongs to a `move` action only"])
        #expect(problems("  - at_move_phase: copying\n    action: heal") == ["t.yaml:8:3: `at_move_phase` needs a `move` action in the scenario"])
        #expect(problems("  - at_move_phase: purged\n    action: heal\n  - at_s: 1\n    action: move\n    tenant: mover\n    to: eu")
            == ["t.yaml:8:20: unknown move phase 'purged' (phases a running move journals: prepared, copying, catching-up, pre-verified, frozen, verified, switched, retained, rolling-back)"])
        #expect(problems("  - action: heal") == ["t.yaml:8:5: a fault needs `at_s`, `at_move_phase` or both"])
        #expect(problems("  - at_s: 1\n    action: heal\n    hits_no_primary: true") == ["t.yaml:10:5: `hits_no_primary` belongs to a zone fault (power-loss, partition) only"])
        #expect(problems("  - at_s: 1\n    action: power-loss\n    zone: z\n    hits_no_primary: true").isEmpty)
    }

    @Test func tenantRestoreActionsNameAScenarioTenantAndRestoreOnlyAfterTheMistake() throws {
        #expect(problems("  - at_s: 3\n    action: delete-tenant-rows") == ["t.yaml:8:5: delete-tenant-rows needs `tenant`"])
        #expect(problems("  - at_s: 3\n    action: restore-tenant\n    tenant: stranger")
            == ["t.yaml:10:13: tenant 'stranger' is not one of the scenario's tenants (mover)"])
        #expect(problems("  - at_s: 3\n    action: restore-tenant\n    tenant: mover")
            == ["t.yaml:8:5: restore-tenant restores mover to just before its rows were deleted: a `delete-tenant-rows` of mover must come first"])
        #expect(problems("  - at_s: 3\n    action: delete-tenant-rows\n    tenant: mover\n    to: eu") == ["t.yaml:11:5: `to` belongs to a `move` action only"])
        #expect(problems("  - at_s: 3\n    action: delete-tenant-rows\n    tenant: mover\n  - at_s: 5\n    action: restore-tenant\n    tenant: mover").isEmpty)
        let shipped = try ScenarioLoader.load(file: Self.root.appendingPathComponent("simulations/restore-tenant.yaml").path).scenario
        #expect(shipped.faults.map(\.action) == [.deleteTenantRows, .restoreTenant])
        #expect(shipped.restoredTenants == [TenantID(validating: "drill-restored")!])
    }

    @Test func aFaultWaitingForAMovePhaseStaysAfterItsMove() throws {
        let faults = [
            Scenario.Fault(at: .seconds(20), action: .heal),
            Scenario.Fault(at: .seconds(4), action: .move, move: Scenario.MoveOrder(tenant: TenantID(validating: "mover")!, toRealm: "eu", toRegion: nil, expect: .rolledBack)),
            Scenario.Fault(at: .zero, action: .powerLoss, zone: "us-east-a", atMovePhase: .prepared),
            Scenario.Fault(at: .seconds(2), action: .coordinatorCrash),
        ]
        #expect(ScenarioLoader.inTimeOrder(faults).map(\.action) == [.coordinatorCrash, .move, .powerLoss, .heal])
    }
}
