import Foundation
import ResidencyCore
import Yams

/// Loads `simulations/*.yaml`. Checks the file on its own (`load(file:)`), and its names
/// against the topology it runs on (`check(_:against:file:)`), both with positions.
public enum ScenarioLoader {
    /// The scenario and, for `check`, where each name was written.
    public struct Loaded: Sendable {
        public let scenario: Scenario
        let names: [NameUse]
    }

    struct NameUse: Sendable {
        enum Kind: Sendable { case zone, shard, realm, region, tier }
        let kind: Kind
        let name: String
        let line: Int
        let column: Int
    }

    public static func load(file: String) throws(ConfigErrors) -> Loaded {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw ConfigErrors(problems: [ConfigProblem(file: file, line: 1, column: 1, message: "cannot read the scenario: \(error.localizedDescription)")])
        }
        return try load(file: file, text: text)
    }

    public static func load(file: String, text: String) throws(ConfigErrors) -> Loaded {
        var reader = YAMLReader(file: file)
        var names: [NameUse] = []
        func use(_ kind: NameUse.Kind, _ node: Node, _ name: String) {
            names.append(NameUse(kind: kind, name: name, line: node.mark?.line ?? 1, column: node.mark?.column ?? 1))
        }
        guard let root = reader.compose(text),
              let top = reader.mapping(
                root, what: "scenario",
                allowed: ["name", "description", "topology", "duration_s", "tenants", "workload", "faults", "targets", "expect"],
                required: ["name", "topology", "duration_s", "tenants", "targets"])
        else { throw ConfigErrors(problems: reader.problems) }

        var name = ""
        if let node = top["name"]?.value, let text = reader.string(node, what: "name") {
            // It becomes part of file names (<state>/drills/<time>-<name>.json) and of reports.
            if Self.isScenarioName(text) {
                name = text
            } else {
                reader.problem(at: node, "scenario name \(Printable.quoted(text)) is not valid: lower-case letters, digits and single hyphens, starting with a letter, at most 63 characters")
            }
        }
        let summary = top["description"].flatMap { reader.string($0.value, what: "description") } ?? ""
        let topology = top["topology"].flatMap { reader.string($0.value, what: "topology") } ?? "../regions"
        let duration = top["duration_s"].flatMap { reader.integer($0.value, what: "duration_s", in: 1...3600) } ?? 20

        var tenants: [Scenario.Tenant] = []
        if let list = top["tenants"]?.value {
            for node in reader.sequence(list, what: "tenants") {
                guard let entries = reader.mapping(node, what: "tenant", allowed: ["name", "realm", "region", "seed_rows"], required: ["name", "realm"]),
                      let nameNode = entries["name"]?.value, let tenantName = reader.string(nameNode, what: "tenant name"),
                      let realmNode = entries["realm"]?.value, let realm: RealmID = reader.name(realmNode, what: "realm")
                else { continue }
                guard let tenant = TenantID(validating: tenantName) else {
                    reader.problem(at: nameNode, "invalid tenant name '\(tenantName)': use \(TenantID.pattern)")
                    continue
                }
                use(.realm, realmNode, realm.rawValue)
                var region: RegionID?
                if let regionNode = entries["region"]?.value, let value: RegionID = reader.name(regionNode, what: "region") {
                    use(.region, regionNode, value.rawValue)
                    region = value
                }
                let seedRows = entries["seed_rows"].flatMap { reader.integer($0.value, what: "seed_rows", in: 0...10_000_000) } ?? 0
                if tenants.contains(where: { $0.name == tenant }) { reader.problem(at: nameNode, "duplicate tenant '\(tenant)'") }
                tenants.append(Scenario.Tenant(name: tenant, realm: realm, region: region, seedRows: seedRows))
            }
            if tenants.isEmpty, reader.problems.isEmpty { reader.problem(at: list, "a drill needs at least one tenant") }
        }

        var writers = 1
        var pause = 0
        if let workload = top["workload"]?.value,
           let entries = reader.mapping(workload, what: "workload", allowed: ["writers_per_tenant", "pause_ms"]) {
            writers = entries["writers_per_tenant"].flatMap { reader.integer($0.value, what: "writers_per_tenant", in: 1...16) } ?? 1
            pause = entries["pause_ms"].flatMap { reader.integer($0.value, what: "pause_ms", in: 0...10_000) } ?? 0
        }

        var faults: [Scenario.Fault] = []
        if let list = top["faults"]?.value {
            for node in reader.sequence(list, what: "faults") {
                guard let entries = reader.mapping(
                        node, what: "fault", allowed: ["at_s", "at_move_phase", "action", "zone", "primary_of", "step", "tenant", "to", "region", "expect", "hits_no_primary"],
                        required: ["action"]),
                      let actionNode = entries["action"]?.value, let actionText = reader.string(actionNode, what: "action")
                else { continue }
                var at = 0
                if let atNode = entries["at_s"]?.value {
                    guard let value = reader.integer(atNode, what: "at_s", in: 0...3600) else { continue }
                    if value > duration { reader.problem(at: atNode, "fault at \(value) s is after the drill's duration_s of \(duration)") }
                    at = value
                }
                var atMovePhase: MovePhase?
                if let phaseNode = entries["at_move_phase"]?.value, let text = reader.string(phaseNode, what: "at_move_phase") {
                    let waypoints = MovePhase.forward.filter { $0 > .planned && $0 < .purged } + [.rollingBack]
                    atMovePhase = MovePhase(rawValue: text)
                    if atMovePhase.map({ !waypoints.contains($0) }) ?? true {
                        reader.problem(at: phaseNode, "unknown move phase '\(text)' (phases a running move journals: \(waypoints.map(\.rawValue).joined(separator: ", ")))")
                    }
                }
                if entries["at_s"] == nil && atMovePhase == nil { reader.problem(at: node, "a fault needs `at_s`, `at_move_phase` or both") }
                guard let action = Scenario.Action(rawValue: actionText) else {
                    reader.problem(at: actionNode, "unknown action '\(actionText)' (actions: \(Scenario.Action.allCases.map(\.rawValue).joined(separator: ", ")))")
                    continue
                }
                var zone: ZoneID?
                if let zoneNode = entries["zone"]?.value, let value: ZoneID = reader.name(zoneNode, what: "zone") {
                    use(.zone, zoneNode, value.rawValue)
                    zone = value
                }
                var primaryOf: ShardID?
                if let shardNode = entries["primary_of"]?.value, let value: ShardID = reader.name(shardNode, what: "shard") {
                    use(.shard, shardNode, value.rawValue)
                    primaryOf = value
                }
                var step: ShardOperation.Step?
                if let stepNode = entries["step"]?.value, let text = reader.string(stepNode, what: "step") {
                    // The steps of a failover or switchover (a drill's faults start neither a restore).
                    let steps = ShardOperation.Step.order(for: .switchover).filter { $0 != .done }
                    step = ShardOperation.Step(rawValue: text).flatMap { steps.contains($0) ? $0 : nil }
                    if step == nil {
                        reader.problem(at: stepNode, "unknown step '\(text)' (steps: \(steps.map(\.rawValue).joined(separator: ", ")))")
                    }
                }
                switch action {
                case .powerLoss, .partition:
                    if (zone == nil) == (primaryOf == nil) { reader.problem(at: node, "\(action.rawValue) needs exactly one of `zone` and `primary_of`") }
                case .crashPrimary:
                    if primaryOf == nil { reader.problem(at: node, "crash-primary needs `primary_of`") }
                case .coordinatorCrashAt:
                    if step == nil { reader.problem(at: node, "coordinator-crash-at needs `step`") }
                case .heal, .coordinatorCrash, .coordinatorRestart:
                    break
                case .move, .deleteTenantRows, .restoreTenant:
                    break
                }
                var order: Scenario.MoveOrder?
                var restoreTenant: TenantID?
                let moveKeys = ["tenant", "to", "region", "expect"].filter { entries[$0] != nil }
                if action == .move {
                    order = moveOrder(entries, at: node, tenants: tenants, reader: &reader, use: use)
                } else if action == .deleteTenantRows || action == .restoreTenant {
                    restoreTenant = scenarioTenant(entries, at: node, action: action, tenants: tenants, reader: &reader)
                    if let key = moveKeys.first(where: { $0 != "tenant" }) {
                        reader.problem(at: entries[key]!.key, "`\(key)` belongs to a `move` action only")
                    }
                    if action == .restoreTenant, let tenant = restoreTenant,
                       !faults.contains(where: { $0.action == .deleteTenantRows && $0.tenant == tenant }) {
                        reader.problem(at: node, "restore-tenant restores \(tenant) to just before its rows were deleted: a `delete-tenant-rows` of \(tenant) must come first")
                    }
                } else if let key = moveKeys.first {
                    reader.problem(at: entries[key]!.key, "`\(key)` belongs to a `move` action only")
                }
                var hitsNoPrimary = false
                if let node = entries["hits_no_primary"] {
                    if action != .powerLoss && action != .partition {
                        reader.problem(at: node.key, "`hits_no_primary` belongs to a zone fault (power-loss, partition) only")
                    } else if let value = reader.bool(node.value, what: "hits_no_primary") {
                        hitsNoPrimary = value
                    }
                }
                faults.append(Scenario.Fault(at: .seconds(at), action: action, zone: zone, primaryOf: primaryOf, step: step, move: order,
                                             atMovePhase: atMovePhase, hitsNoPrimary: hitsNoPrimary, tenant: restoreTenant))
            }
        }

        if faults.contains(where: { $0.atMovePhase != nil }), !faults.contains(where: { $0.action == .move }), let list = top["faults"]?.value {
            reader.problem(at: list, "`at_move_phase` needs a `move` action in the scenario")
        }

        var rtoMax: Int?
        var rpoMax = 0
        var tier: TierID?
        var moveGapMax: Int?
        if let targets = top["targets"]?.value,
           let entries = reader.mapping(targets, what: "targets", allowed: ["rto_max_s", "rpo_max", "sla_tier", "move_gap_max_ms"]) {
            moveGapMax = entries["move_gap_max_ms"].flatMap { reader.integer($0.value, what: "move_gap_max_ms", in: 1...3_600_000) }
            rtoMax = entries["rto_max_s"].flatMap { reader.integer($0.value, what: "rto_max_s", in: 1...3600) }
            rpoMax = entries["rpo_max"].flatMap { reader.integer($0.value, what: "rpo_max", in: 0...1_000_000) } ?? 0
            if let tierNode = entries["sla_tier"]?.value, let value: TierID = reader.name(tierNode, what: "sla_tier") {
                use(.tier, tierNode, value.rawValue)
                tier = value
            }
        }

        var refused: [ShardID] = []
        var unavailable: [ShardID] = []
        var neighboursUnaffected = false
        if let expect = top["expect"]?.value,
           let entries = reader.mapping(expect, what: "expect", allowed: ["promotion_refused", "unavailable", "neighbours_unaffected"]) {
            neighboursUnaffected = entries["neighbours_unaffected"].flatMap { reader.bool($0.value, what: "neighbours_unaffected") } ?? false
            for (key, into) in [("promotion_refused", 0), ("unavailable", 1)] {
                guard let list = entries[key]?.value else { continue }
                for node in reader.sequence(list, what: key) {
                    guard let shard: ShardID = reader.name(node, what: "shard") else { continue }
                    use(.shard, node, shard.rawValue)
                    if into == 0 { refused.append(shard) } else { unavailable.append(shard) }
                }
            }
        }

        guard reader.problems.isEmpty else { throw ConfigErrors(problems: reader.problems) }
        let scenario = Scenario(
            name: name, summary: summary, topologyDirectory: topology, duration: .seconds(duration), tenants: tenants,
            writersPerTenant: writers, writePause: .milliseconds(pause), faults: inTimeOrder(faults),
            rtoMax: rtoMax.map { .seconds($0) }, rpoMax: rpoMax, slaTier: tier, expectRefused: refused, expectUnavailable: unavailable,
            moveGapMax: moveGapMax.map { .milliseconds($0) }, expectNeighboursUnaffected: neighboursUnaffected)
        return Loaded(scenario: scenario, names: names)
    }

    /// A well-formed name of at most 63 characters: safe in a file name and a terminal.
    static func isScenarioName(_ text: String) -> Bool { Identifier<RealmKind>.isWellFormed(text, length: 63) }

    /// Faults in the order they fire: by `at_s`, stable; a fault waiting for a move phase
    /// stays after the move written before it.
    public static func inTimeOrder(_ faults: [Scenario.Fault]) -> [Scenario.Fault] {
        var lastMove: Duration = .zero
        let keyed = faults.enumerated().map { index, fault in
            if fault.action == .move { lastMove = fault.at }
            return (key: fault.atMovePhase == nil ? fault.at : max(fault.at, lastMove), index: index, fault: fault)
        }
        return keyed.sorted { ($0.key, $0.index) < ($1.key, $1.index) }.map(\.fault)
    }

    /// A `move` action's `tenant` (one of the scenario's), `to` (a realm), optional `region`
    /// and `expect` (`done`, the default, `rolled-back`, or `ended`: either).
    /// The `tenant` of a `delete-tenant-rows` or `restore-tenant`: one of the scenario's.
    private static func scenarioTenant(_ entries: [String: (key: Node, value: Node)], at node: Node, action: Scenario.Action,
                                       tenants: [Scenario.Tenant], reader: inout YAMLReader) -> TenantID? {
        guard let tenantNode = entries["tenant"]?.value else {
            reader.problem(at: node, "\(action.rawValue) needs `tenant`")
            return nil
        }
        guard let text = reader.string(tenantNode, what: "tenant") else { return nil }
        guard let tenant = TenantID(validating: text), tenants.contains(where: { $0.name == tenant }) else {
            reader.problem(at: tenantNode, "tenant '\(text)' is not one of the scenario's tenants (\(tenants.map(\.name.rawValue).joined(separator: ", ")))")
            return nil
        }
        return tenant
    }

    private static func moveOrder(_ entries: [String: (key: Node, value: Node)], at node: Node, tenants: [Scenario.Tenant],
                                  reader: inout YAMLReader, use: (NameUse.Kind, Node, String) -> Void) -> Scenario.MoveOrder? {
        guard let tenantNode = entries["tenant"]?.value, let realmNode = entries["to"]?.value else {
            reader.problem(at: node, "a move needs `tenant` and `to` (a realm)")
            return nil
        }
        guard let text = reader.string(tenantNode, what: "tenant"), let realm: RealmID = reader.name(realmNode, what: "realm") else { return nil }
        guard let tenant = TenantID(validating: text), tenants.contains(where: { $0.name == tenant }) else {
            reader.problem(at: tenantNode, "tenant '\(text)' is not one of the scenario's tenants (\(tenants.map(\.name.rawValue).joined(separator: ", ")))")
            return nil
        }
        use(.realm, realmNode, realm.rawValue)
        var region: RegionID?
        if let regionNode = entries["region"]?.value, let value: RegionID = reader.name(regionNode, what: "region") {
            use(.region, regionNode, value.rawValue)
            region = value
        }
        var expect = Scenario.MoveOutcome.done
        if let expectNode = entries["expect"]?.value, let value = reader.string(expectNode, what: "expect") {
            guard let outcome = Scenario.MoveOutcome(rawValue: value) else {
                reader.problem(at: expectNode, "a move ends `done`, `rolled-back` or `ended` (either, by itself), not '\(value)'")
                return nil
            }
            expect = outcome
        }
        return Scenario.MoveOrder(tenant: tenant, toRealm: realm, toRegion: region, expect: expect)
    }

    /// Checks every zone, shard, realm, region and tier the scenario names against `topology`.
    public static func check(_ loaded: Loaded, against topology: Topology, file: String) throws(ConfigErrors) {
        var problems: [ConfigProblem] = []
        for use in loaded.names {
            let known: [String]
            switch use.kind {
            case .zone: known = topology.regions.flatMap(\.zones).map(\.rawValue)
            case .shard: known = topology.shards.map(\.id.rawValue)
            case .realm: known = topology.realms.map(\.id.rawValue)
            case .region: known = topology.regions.map(\.id.rawValue)
            case .tier: known = topology.serviceLevels.tiers.map(\.id.rawValue)
            }
            if !known.contains(use.name) {
                problems.append(ConfigProblem(file: file, line: use.line, column: use.column,
                                              message: "unknown \(use.kind) '\(use.name)' in the topology (known: \(known.joined(separator: ", ")))"))
            }
        }
        func position(ofRegion region: RegionID) -> (Int, Int) {
            loaded.names.first { $0.kind == .region && $0.name == region.rawValue }.map { ($0.line, $0.column) } ?? (1, 1)
        }
        for tenant in loaded.scenario.tenants {
            if let region = tenant.region, let realm = topology.realm(tenant.realm), !realm.regions.contains(region) {
                let (line, column) = position(ofRegion: region)
                problems.append(ConfigProblem(file: file, line: line, column: column, message: "tenant \(tenant.name): region '\(region)' is not in realm '\(tenant.realm)'"))
            }
        }
        for move in loaded.scenario.faults.compactMap(\.move) {
            if let region = move.toRegion, let realm = topology.realm(move.toRealm), !realm.regions.contains(region) {
                let (line, column) = loaded.names.last { $0.kind == .region && $0.name == region.rawValue }.map { ($0.line, $0.column) } ?? (1, 1)
                problems.append(ConfigProblem(file: file, line: line, column: column,
                                              message: "move of \(move.tenant): region '\(region)' is not in its target realm '\(move.toRealm)' (its regions: \(realm.regions.map(\.rawValue).joined(separator: ", ")))"))
            }
        }
        if !problems.isEmpty { throw ConfigErrors(problems: problems) }
    }
}
