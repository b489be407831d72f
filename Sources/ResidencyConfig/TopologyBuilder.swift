import ResidencyCore
import Yams

/// A value read from a file, with where it was written.
struct Located<Value> {
    let value: Value
    let file: String
    let mark: Mark?

    init(_ value: Value, _ file: String, _ node: Node?) {
        self.value = value
        self.file = file
        self.mark = node?.mark
    }

    var position: String { "\(file):\(mark?.line ?? 1):\(mark?.column ?? 1)" }
}

/// Collects the files of `regions/`, then checks what only the whole topology can tell
/// (unknown regions, zones of another region, colliding ports, duplicate names).
struct TopologyBuilder {
    private var problems: [ConfigProblem] = []
    private var controlPort: Located<Int>?
    private var realms: [(id: Located<RealmID>, regions: [Located<RegionID>]?)] = []
    private var apps: [Located<App>] = []
    private var failover = FailoverSettings()
    private var backups = BackupSettings()
    private var backupTierNodes: [(TierID, Node)] = []
    private var tiers: [Tier] = []
    private var regions: [RegionDraft] = []
    private var topologyFile = "topology.yaml"
    /// Files that did not parse: checks across files would only repeat their problem.
    private var unparsedFiles: [String] = []

    struct RegionDraft {
        let id: Located<RegionID>
        let zones: [Located<ZoneID>]
        let ports: Located<PortRange>?
        let shards: [(id: Located<ShardID>, zones: [Located<ZoneID>]?, node: Node)]
    }

    private mutating func problem<V>(_ at: Located<V>, _ message: String) {
        problems.append(ConfigProblem(file: at.file, line: at.mark?.line ?? 1, column: at.mark?.column ?? 1, message: message))
    }

    // MARK: topology.yaml

    mutating func readTopologyFile(file: String, text: String) {
        topologyFile = file
        var reader = YAMLReader(file: file)
        defer { problems += reader.problems }
        guard let root = reader.compose(text) else { return unparsedFiles.append(file) }
        guard let top = reader.mapping(
                root, what: "topology.yaml",
                allowed: ["control", "realms", "failover", "apps", "service_levels", "backups"],
                required: ["control", "realms", "service_levels"])
        else { return }

        if let control = top["control"]?.value,
           let entries = reader.mapping(control, what: "control", allowed: ["port"], required: ["port"]),
           let portNode = entries["port"]?.value,
           let port = reader.integer(portNode, what: "control.port", in: 1024...65535)
        {
            if let why = PortRange(first: port, last: port).unsuitability {
                reader.problem(at: portNode, "control.port \(port) is unsuitable: ports that \(why): choose one like 25400")
            } else {
                controlPort = Located(port, file, portNode)
            }
        }

        if let realmsNode = top["realms"]?.value {
            for (key, _, value) in reader.namedEntries(realmsNode, what: "realms") {
                guard let id: RealmID = reader.name(key, what: "realm") else { continue }
                if case let .scalar(scalar) = value, scalar.string == "all" {
                    realms.append((Located(id, file, key), nil))
                    continue
                }
                let regionNodes = reader.sequence(value, what: "realm '\(id)' (a list of regions, or `all`)")
                if regionNodes.isEmpty, case .sequence = value {
                    reader.problem(at: value, "realm '\(id)' names no region")
                }
                let regions = regionNodes.compactMap { node -> Located<RegionID>? in
                    reader.name(node, what: "region").map { Located($0, file, node) }
                }
                var listed: Set<RegionID> = []
                for region in regions where !listed.insert(region.value).inserted {
                    problems.append(ConfigProblem(file: file, line: region.mark?.line ?? 1, column: region.mark?.column ?? 1,
                                                  message: "realm '\(id)' lists region '\(region.value)' twice"))
                }
                realms.append((Located(id, file, key), regions))
            }
        }

        if let failoverNode = top["failover"]?.value,
           let entries = reader.mapping(
            failoverNode, what: "failover",
            allowed: ["probe_interval_ms", "probe_deadline_ms", "failover_after_ms", "effect_concurrency", "rejoin_concurrency"])
        {
            func milliseconds(_ key: String, _ reader: inout YAMLReader) -> Duration? {
                guard let node = entries[key]?.value, let ms = reader.integer(node, what: "failover.\(key)", in: 10...600_000)
                else { return nil }
                return .milliseconds(ms)
            }
            if let value = milliseconds("probe_interval_ms", &reader) { failover.probeInterval = value }
            if let value = milliseconds("probe_deadline_ms", &reader) { failover.probeDeadline = value }
            if let value = milliseconds("failover_after_ms", &reader) { failover.failoverAfter = value }
            if let node = entries["effect_concurrency"]?.value, let value = reader.integer(node, what: "failover.effect_concurrency", in: 1...256) {
                failover.effectConcurrency = value
            }
            if let node = entries["rejoin_concurrency"]?.value, let value = reader.integer(node, what: "failover.rejoin_concurrency", in: 1...64) {
                failover.rejoinConcurrency = value
            }
            if failover.probeInterval >= failover.failoverAfter {
                reader.problem(at: entries["probe_interval_ms"]?.value ?? failoverNode,
                               "failover.probe_interval_ms must be below failover_after_ms, or a primary is failed over between two probes")
            }
            if failover.probeDeadline >= failover.failoverAfter {
                reader.problem(at: entries["probe_deadline_ms"]?.value ?? failoverNode,
                               "failover.probe_deadline_ms must be below failover_after_ms, or a single slow probe fails a primary over")
            }
        }

        if let appsNode = top["apps"]?.value {
            for node in reader.sequence(appsNode, what: "apps") {
                guard let entries = reader.mapping(
                    node, what: "app", allowed: ["key", "residency_eligible"], required: ["key", "residency_eligible"]),
                    let keyNode = entries["key"]?.value, let key: AppKey = reader.name(keyNode, what: "app key"),
                    let eligibleNode = entries["residency_eligible"]?.value,
                    let eligible = reader.bool(eligibleNode, what: "residency_eligible")
                else { continue }
                apps.append(Located(App(key: key, residencyEligible: eligible), file, keyNode))
            }
        }

        if let backupsNode = top["backups"]?.value,
           let entries = reader.mapping(backupsNode, what: "backups", allowed: ["interval_hours", "retention_days", "tier_retention_days"])
        {
            if let node = entries["interval_hours"]?.value, let value = reader.integer(node, what: "backups.interval_hours", in: 0...8760) {
                backups.intervalHours = value
            }
            if let node = entries["retention_days"]?.value, let value = reader.integer(node, what: "backups.retention_days", in: 1...3650) {
                backups.retentionDays = value
            }
            if let tiersNode = entries["tier_retention_days"]?.value {
                for (key, _, value) in reader.namedEntries(tiersNode, what: "backups.tier_retention_days") {
                    guard let tier: TierID = reader.name(key, what: "tier"),
                          let days = reader.integer(value, what: "backups.tier_retention_days.\(tier)", in: 1...3650)
                    else { continue }
                    backups.tierRetentionDays[tier.rawValue] = days
                    backupTierNodes.append((tier, key))
                }
            }
        }

        if let levels = top["service_levels"]?.value {
            for (key, _, value) in reader.namedEntries(levels, what: "service_levels") {
                guard let id: TierID = reader.name(key, what: "tier"),
                      let entries = reader.mapping(
                        value, what: "tier '\(id)'", allowed: ["uptime_percent", "credits"],
                        required: ["uptime_percent", "credits"]),
                      let uptimeNode = entries["uptime_percent"]?.value,
                      let uptime = reader.percent(uptimeNode, what: "uptime_percent", allowZero: false),
                      let creditsNode = entries["credits"]?.value
                else { continue }
                var bands: [CreditBand] = []
                for bandNode in reader.sequence(creditsNode, what: "credits") {
                    guard let band = reader.mapping(
                        bandNode, what: "credit band", allowed: ["uptime_below_percent", "credit_percent"],
                        required: ["uptime_below_percent", "credit_percent"]),
                        let belowNode = band["uptime_below_percent"]?.value,
                        let below = reader.percent(belowNode, what: "uptime_below_percent", allowZero: false),
                        let creditNode = band["credit_percent"]?.value,
                        let credit = reader.percent(creditNode, what: "credit_percent", allowZero: true)
                    else { continue }
                    if below > uptime {
                        reader.problem(at: belowNode, "a credit band starts at \(below) %, above the tier's own target of \(uptime) %")
                    }
                    // Bands go down in uptime and up in credit: lower uptime never earns less.
                    if let previous = bands.last {
                        if below >= previous.uptimeBelowPercent {
                            reader.problem(at: belowNode, "credit bands must be listed with uptime_below_percent going down: \(below) after \(previous.uptimeBelowPercent)")
                        } else if credit <= previous.creditPercent {
                            reader.problem(at: creditNode, "a lower uptime must earn a higher credit: \(credit) % below \(below) % after \(previous.creditPercent) % below \(previous.uptimeBelowPercent) %")
                        }
                    }
                    bands.append(CreditBand(uptimeBelowPercent: below, creditPercent: credit))
                }
                if tiers.contains(where: { $0.id == id }) {
                    reader.problem(at: key, "duplicate tier '\(id)'")
                }
                tiers.append(Tier(id: id, uptimeTargetPercent: uptime, creditBands: bands))
            }
            if tiers.isEmpty, problems.isEmpty, reader.problems.isEmpty {
                reader.problem(at: levels, "service_levels defines no tier: add one, like premium: {uptime_percent: 99.95, credits: [...]}")
            }
        }
        for (tier, node) in backupTierNodes where !tiers.contains(where: { $0.id == tier }) {
            reader.problem(at: node, "backups.tier_retention_days names tier '\(tier)', which service_levels does not define (tiers: \(tiers.map(\.id.rawValue).joined(separator: ", ")))")
        }
    }

    // MARK: region files

    mutating func readRegionFile(file: String, text: String) {
        var reader = YAMLReader(file: file)
        defer { problems += reader.problems }
        guard let root = reader.compose(text) else { return unparsedFiles.append(file) }
        guard let top = reader.mapping(
                root, what: "region file", allowed: ["region", "zones", "ports", "shards"],
                required: ["region", "zones", "ports", "shards"]),
              let idNode = top["region"]?.value, let id: RegionID = reader.name(idNode, what: "region")
        else { return }

        var zones: [Located<ZoneID>] = []
        if let zonesNode = top["zones"]?.value {
            for node in reader.sequence(zonesNode, what: "zones") {
                if let zone: ZoneID = reader.name(node, what: "zone") { zones.append(Located(zone, file, node)) }
            }
            if zones.isEmpty { reader.problem(at: zonesNode, "region '\(id)' has no zone") }
        }

        var ports: Located<PortRange>?
        if let portsNode = top["ports"]?.value, let text = reader.string(portsNode, what: "ports") {
            let parts = text.split(separator: "-", omittingEmptySubsequences: false)
            if parts.count == 2, let first = Int(parts[0]), let last = Int(parts[1]), 1024 <= first, first <= last, last <= 65535 {
                let range = PortRange(first: first, last: last)
                if let why = range.unsuitability {
                    reader.problem(at: portsNode, "ports \(range) \(why): choose a range like 25410-25429")
                } else {
                    ports = Located(range, file, portsNode)
                }
            } else {
                reader.problem(at: portsNode, "ports must be a range FIRST-LAST within 1024-65535, like 25410-25429, not '\(text)'")
            }
        }

        var shards: [(id: Located<ShardID>, zones: [Located<ZoneID>]?, node: Node)] = []
        if let shardsNode = top["shards"]?.value {
            let list = reader.sequence(shardsNode, what: "shards")
            if list.isEmpty, case .sequence = shardsNode { reader.problem(at: shardsNode, "region '\(id)' has no shard") }
            for node in list {
                guard let entries = reader.mapping(node, what: "shard", allowed: ["id", "zones"], required: ["id"]),
                      let shardNode = entries["id"]?.value, let shardID: ShardID = reader.name(shardNode, what: "shard id")
                else { continue }
                var shardZones: [Located<ZoneID>]?
                if let zonesNode = entries["zones"]?.value {
                    shardZones = reader.sequence(zonesNode, what: "shard zones").compactMap { zoneNode in
                        reader.name(zoneNode, what: "zone").map { Located($0, file, zoneNode) }
                    }
                }
                shards.append((Located(shardID, file, shardNode), shardZones, node))
            }
        }
        regions.append(RegionDraft(id: Located(id, file, idNode), zones: zones, ports: ports, shards: shards))
    }

    // MARK: cross-file checks

    mutating func build() throws(ConfigErrors) -> Topology {
        if !unparsedFiles.isEmpty { throw ConfigErrors(problems: problems) }
        checkUnique(regions.map(\.id), what: "region")
        checkUnique(regions.flatMap(\.zones), what: "zone")
        checkUnique(regions.flatMap { $0.shards.map(\.id) }, what: "shard")
        checkUnique(realms.map(\.id), what: "realm")
        checkUnique(apps.map { Located($0.value.key, $0.file, nil as Node?).with(mark: $0.mark) }, what: "app")

        let regionIDs = regions.map(\.id.value)
        let zoneRegion = Dictionary(
            regions.flatMap { region in region.zones.map { ($0.value, region.id.value) } }, uniquingKeysWith: { a, _ in a })
        var builtRealms: [Realm] = []
        for realm in realms {
            guard let named = realm.regions else {
                builtRealms.append(Realm(id: realm.id.value, regions: regionIDs))
                continue
            }
            for region in named where !regionIDs.contains(region.value) {
                problem(region, "realm '\(realm.id.value)' names unknown region '\(region.value)' (regions: \(regionIDs.map(\.rawValue).joined(separator: ", ")))")
            }
            builtRealms.append(Realm(id: realm.id.value, regions: named.map(\.value)))
        }
        if realms.isEmpty, !problems.contains(where: { $0.message.contains("realms") }) {
            problems.append(ConfigProblem(file: topologyFile, line: 1, column: 1, message: "no realm is defined"))
        }

        var builtRegions: [Region] = []
        var claimedPorts: [(range: PortRange, owner: String, at: Located<PortRange>?)] = []
        if let control = controlPort {
            claimedPorts.append((PortRange(first: control.value, last: control.value), "the control server", nil))
        }
        for draft in regions {
            let region = draft.id.value
            var shards: [Shard] = []
            var pinned: Set<ShardID> = []
            for shard in draft.shards {
                let zones = shard.zones ?? draft.zones
                for zone in shard.zones ?? [] where zoneRegion[zone.value] != region {
                    if let other = zoneRegion[zone.value] {
                        problem(zone, "shard '\(shard.id.value)' of region '\(region)' has a member in zone '\(zone.value)' of region '\(other)': replication never leaves a region")
                    } else {
                        problem(zone, "shard '\(shard.id.value)' names unknown zone '\(zone.value)' (zones of '\(region)': \(draft.zones.map(\.value.rawValue).joined(separator: ", ")))")
                    }
                }
                checkUnique(shard.zones ?? [], what: "zone of shard '\(shard.id.value)'")
                if Set(zones.map(\.value)).count < 2 {
                    problem(shard.id, "shard '\(shard.id.value)' has \(Set(zones.map(\.value)).count) zone(s): a shard needs at least two zones, so that a commit is acknowledged only once a second zone has it")
                    continue
                }
                shards.append(Shard(id: shard.id.value, region: region, zones: zones.map(\.value)))
                if shard.zones != nil { pinned.insert(shard.id.value) }
            }
            // A shard listing its zones pins its primary to the first; the others spread.
            let placed = PrimarySpread.place(
                shards.map { PrimarySpread.Request(shard: $0.id, zones: $0.zones, pinned: pinned.contains($0.id) ? $0.zones[0] : nil) },
                zones: draft.zones.map(\.value))
            shards = shards.map { Shard(id: $0.id, region: $0.region, zones: $0.zones, primaryZone: placed[$0.id]) }
            guard let ports = draft.ports else { continue }
            let needed = shards.reduce(0) { $0 + $1.zones.count }
            if needed > ports.value.count {
                problem(ports, "region '\(region)' needs \(needed) ports for its nodes, and ports \(ports.value) has \(ports.value.count)")
            }
            for claimed in claimedPorts where claimed.range.overlaps(ports.value) {
                problem(ports, "ports \(ports.value) of region '\(region)' collide with \(claimed.owner)" + (claimed.at.map { " (\($0.position))" } ?? " (port \(claimed.range.first))"))
            }
            claimedPorts.append((ports.value, "the ports of region '\(region)'", ports))
            builtRegions.append(Region(id: region, zones: draft.zones.map(\.value), shards: shards, ports: ports.value))
        }
        if regions.isEmpty {
            problems.append(ConfigProblem(file: topologyFile, line: 1, column: 1, message: "no region file: add one *.yaml per region next to topology.yaml"))
        }
        if !problems.isEmpty { throw ConfigErrors(problems: problems) }
        guard let controlPort else { throw ConfigErrors(problems: problems) }
        return Topology(
            realms: builtRealms, regions: builtRegions, apps: apps.map(\.value), failover: failover,
            serviceLevels: ServiceLevels(tiers: tiers), controlPort: controlPort.value, backups: backups)
    }

    private mutating func checkUnique<V: Hashable>(_ items: [Located<V>], what: String) {
        var first: [V: Located<V>] = [:]
        for item in items {
            if let earlier = first[item.value] {
                problem(item, "duplicate \(what) '\(item.value)' (first at \(earlier.position))")
            } else {
                first[item.value] = item
            }
        }
    }
}

extension Located {
    func with(mark: Mark?) -> Located<Value> { Located(value: value, file: file, mark: mark) }
    init(value: Value, file: String, mark: Mark?) {
        self.value = value
        self.file = file
        self.mark = mark
    }
}
