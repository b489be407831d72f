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

        let name = top["name"].flatMap { reader.string($0.value, what: "name") } ?? ""
        let summary = top["description"].flatMap { reader.string($0.value, what: "description") } ?? ""
        let topology = top["topology"].flatMap { reader.string($0.value, what: "topology") } ?? "../regions"
        let duration = top["duration_s"].flatMap { reader.integer($0.value, what: "duration_s", in: 1...3600) } ?? 20

        var tenants: [Scenario.Tenant] = []
        if let list = top["tenants"]?.value {
            for node in reader.sequence(list, what: "tenants") {
                guard let entries = reader.mapping(node, what: "tenant", allowed: ["name", "realm", "region"], required: ["name", "realm"]),
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
                if tenants.contains(where: { $0.name == tenant }) { reader.problem(at: nameNode, "duplicate tenant '\(tenant)'") }
                tenants.append(Scenario.Tenant(name: tenant, realm: realm, region: region))
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
                guard let entries = reader.mapping(node, what: "fault", allowed: ["at_s", "action", "zone", "primary_of", "step"], required: ["at_s", "action"]),
                      let atNode = entries["at_s"]?.value, let at = reader.integer(atNode, what: "at_s", in: 0...3600),
                      let actionNode = entries["action"]?.value, let actionText = reader.string(actionNode, what: "action")
                else { continue }
                guard let action = Scenario.Action(rawValue: actionText) else {
                    reader.problem(at: actionNode, "unknown action '\(actionText)' (actions: \(Scenario.Action.allCases.map(\.rawValue).joined(separator: ", ")))")
                    continue
                }
                if at > duration { reader.problem(at: atNode, "fault at \(at) s is after the drill's duration_s of \(duration)") }
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
                    step = ShardOperation.Step(rawValue: text)
                    if step == nil || step == .done {
                        reader.problem(at: stepNode, "unknown step '\(text)' (steps: \(ShardOperation.Step.allCases.filter { $0 != .done }.map(\.rawValue).joined(separator: ", ")))")
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
                }
                faults.append(Scenario.Fault(at: .seconds(at), action: action, zone: zone, primaryOf: primaryOf, step: step))
            }
        }

        var rtoMax = 3
        var rpoMax = 0
        var tier: TierID?
        if let targets = top["targets"]?.value,
           let entries = reader.mapping(targets, what: "targets", allowed: ["rto_max_s", "rpo_max", "sla_tier"]) {
            rtoMax = entries["rto_max_s"].flatMap { reader.integer($0.value, what: "rto_max_s", in: 1...3600) } ?? 3
            rpoMax = entries["rpo_max"].flatMap { reader.integer($0.value, what: "rpo_max", in: 0...1_000_000) } ?? 0
            if let tierNode = entries["sla_tier"]?.value, let value: TierID = reader.name(tierNode, what: "sla_tier") {
                use(.tier, tierNode, value.rawValue)
                tier = value
            }
        }

        var refused: [ShardID] = []
        var unavailable: [ShardID] = []
        if let expect = top["expect"]?.value,
           let entries = reader.mapping(expect, what: "expect", allowed: ["promotion_refused", "unavailable"]) {
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
            writersPerTenant: writers, writePause: .milliseconds(pause), faults: faults.sorted { $0.at < $1.at },
            rtoMax: .seconds(rtoMax), rpoMax: rpoMax, slaTier: tier, expectRefused: refused, expectUnavailable: unavailable)
        return Loaded(scenario: scenario, names: names)
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
        for tenant in loaded.scenario.tenants {
            if let region = tenant.region, let realm = topology.realm(tenant.realm), !realm.regions.contains(region) {
                problems.append(ConfigProblem(file: file, line: 1, column: 1, message: "tenant \(tenant.name): region '\(region)' is not in realm '\(tenant.realm)'"))
            }
        }
        if !problems.isEmpty { throw ConfigErrors(problems: problems) }
    }
}
