/// Realms, regions, zones, shards and the catalogue, as validated by ResidencyConfig.
///
/// Invariants (checked by the loader, assumed here): names are unique, every realm names
/// known regions, every shard's zones belong to its region, ports do not collide.
public struct Topology: Hashable, Sendable, Codable {
    public let realms: [Realm]
    public let regions: [Region]
    public let apps: [App]
    public let failover: FailoverSettings
    public let serviceLevels: ServiceLevels
    /// Local mode: the control server's port (it belongs to no zone).
    public let controlPort: Int
    /// Base backups and the vault's retention (`backups:` in topology.yaml).
    public let backups: BackupSettings

    public init(
        realms: [Realm], regions: [Region], apps: [App], failover: FailoverSettings,
        serviceLevels: ServiceLevels, controlPort: Int, backups: BackupSettings = BackupSettings()
    ) {
        self.realms = realms
        self.regions = regions
        self.apps = apps
        self.failover = failover
        self.serviceLevels = serviceLevels
        self.controlPort = controlPort
        self.backups = backups
    }

    /// A topology stored by a version before the vault has no `backups`: the defaults.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            realms: try container.decode([Realm].self, forKey: .realms), regions: try container.decode([Region].self, forKey: .regions),
            apps: try container.decode([App].self, forKey: .apps), failover: try container.decode(FailoverSettings.self, forKey: .failover),
            serviceLevels: try container.decode(ServiceLevels.self, forKey: .serviceLevels), controlPort: try container.decode(Int.self, forKey: .controlPort),
            backups: try container.decodeIfPresent(BackupSettings.self, forKey: .backups) ?? BackupSettings())
    }

    /// The same topology with other failover settings (a coordinator's command-line overrides).
    public func with(failover: FailoverSettings) -> Topology {
        Topology(realms: realms, regions: regions, apps: apps, failover: failover, serviceLevels: serviceLevels, controlPort: controlPort, backups: backups)
    }

    public var shards: [Shard] { regions.flatMap(\.shards) }
    public var nodes: [NodeID] { shards.flatMap(\.nodes) }

    public func realm(_ id: RealmID) -> Realm? { realms.first { $0.id == id } }
    public func region(_ id: RegionID) -> Region? { regions.first { $0.id == id } }
    public func shard(_ id: ShardID) -> Shard? { shards.first { $0.id == id } }
    public func app(_ key: AppKey) -> App? { apps.first { $0.key == key } }

    /// Local mode: the port of `node`.
    public func port(of node: NodeID) -> Int? {
        guard let shard = shard(node.shard), let region = region(shard.region) else { return nil }
        return region.nodePorts.first { $0.node == node }?.port
    }

    /// The region holding `zone`.
    public func region(ofZone zone: ZoneID) -> RegionID? {
        regions.first { $0.zones.contains(zone) }?.id
    }

    /// The settings that make up the topology, one line each, in a stable order. `up`
    /// stores them and compares them on every later run to detect a changed `regions/`.
    public var facts: [TopologyFact] {
        var facts: [TopologyFact] = [TopologyFact(key: "control.port", value: "\(controlPort)")]
        for realm in realms {
            facts.append(TopologyFact(key: "realm \(realm.id)", value: realm.regions.map(\.rawValue).joined(separator: ", ")))
        }
        for region in regions {
            facts.append(TopologyFact(key: "region \(region.id) zones", value: region.zones.map(\.rawValue).joined(separator: ", ")))
            facts.append(TopologyFact(key: "region \(region.id) ports", value: region.ports.description))
            for shard in region.shards {
                facts.append(TopologyFact(key: "shard \(shard.id)", value: "region \(region.id), zones \(shard.zones.map(\.rawValue).joined(separator: ", "))"))
            }
        }
        for app in apps {
            facts.append(TopologyFact(key: "app \(app.key)", value: app.residencyEligible ? "residency-eligible" : "not residency-eligible"))
        }
        return facts
    }
}

/// One setting of a topology, as `up` stores it.
public struct TopologyFact: Hashable, Sendable {
    public let key: String
    public let value: String

    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }
}
