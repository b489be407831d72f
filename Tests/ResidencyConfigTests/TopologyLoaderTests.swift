import Foundation
import ResidencyConfig
import ResidencyCore
import Testing

@Suite struct TopologyLoaderTests {
    static let topologyFile = """
        control:
          port: 25400
        realms:
          us: [us-east]
          eu: [eu-central]
          global: all
        apps:
          - key: tempo
            residency_eligible: true
        service_levels:
          premium:
            uptime_percent: 99.9
            credits:
              - uptime_below_percent: 99.9
                credit_percent: 10
        """

    static func regionFile(_ name: String, ports: String, shardZones: String? = nil) -> String {
        """
        region: \(name)
        zones: [\(name)-a, \(name)-b, \(name)-c]
        ports: \(ports)
        shards:
          - id: \(name)-1
            zones: \(shardZones ?? "[\(name)-a, \(name)-b, \(name)-c]")
        """
    }

    static let usEast = regionFile("us-east", ports: "25410-25419")
    static let euCentral = regionFile("eu-central", ports: "25420-25429")

    func load(topology: String = topologyFile, usEast: String = usEast, euCentral: String = euCentral) throws -> Topology {
        try TopologyLoader.load(sources: [
            ("regions/topology.yaml", topology), ("regions/eu-central.yaml", euCentral), ("regions/us-east.yaml", usEast),
        ])
    }

    @Test func shardsWithoutZonesSpreadTheirPrimariesRoundRobinAndAListedZonePins() throws {
        let region = """
            region: eu-central
            zones: [eu-central-a, eu-central-b, eu-central-c]
            ports: 25420-25439
            shards:
              - id: eu-central-1
              - id: eu-central-2
              - id: eu-central-3
                zones: [eu-central-a, eu-central-c]
              - id: eu-central-4
              - id: eu-central-5
            """
        let topology = try load(euCentral: region)
        let zones = topology.region("eu-central")!.shards.map(\.primaryZone.rawValue)
        // 3 is pinned to a; the others fill the zones in turn, the least loaded first.
        #expect(zones == ["eu-central-b", "eu-central-c", "eu-central-a", "eu-central-a", "eu-central-b"])
        #expect(topology.shard("us-east-1")?.primaryZone == "us-east-a")
    }

    @Test func effectConcurrencyIsASettingWithBounds() throws {
        let settings = Self.topologyFile + "\nfailover:\n  effect_concurrency: 4\n  rejoin_concurrency: 1\n"
        let topology = try load(topology: settings)
        #expect(topology.failover.effectConcurrency == 4)
        #expect(topology.failover.rejoinConcurrency == 1)
        let bad = problems(topology: Self.topologyFile + "\nfailover:\n  effect_concurrency: 0\n")
        #expect(bad.count == 1 && bad[0].hasPrefix("regions/topology.yaml:"), "\(bad)")
    }

    @Test func backupsAreSettingsWithBoundsAndKnownTiers() throws {
        #expect(try load().backups == BackupSettings())
        let settings = Self.topologyFile + "\nbackups:\n  interval_hours: 6\n  retention_days: 14\n  tier_retention_days:\n    premium: 90\n"
        let topology = try load(topology: settings)
        #expect(topology.backups == BackupSettings(intervalHours: 6, retentionDays: 14, tierRetentionDays: ["premium": 90]))
        #expect(topology.backups.effectiveRetentionDays == 90)
        let zero = problems(topology: Self.topologyFile + "\nbackups:\n  retention_days: 0\n")
        #expect(zero.count == 1 && zero[0].hasPrefix("regions/topology.yaml:17:19:") && zero[0].contains("retention_days"), "\(zero)")
        let unknownTier = problems(topology: Self.topologyFile + "\nbackups:\n  tier_retention_days:\n    gold: 90\n")
        #expect(unknownTier.count == 1 && unknownTier[0].hasPrefix("regions/topology.yaml:18:5:") && unknownTier[0].contains("'gold'"), "\(unknownTier)")
        let unknownKey = problems(topology: Self.topologyFile + "\nbackups:\n  every: 3\n")
        #expect(unknownKey.count == 1 && unknownKey[0].contains("every"), "\(unknownKey)")
    }

    /// The problems of a load that must fail, as `file:line:col: message`.
    func problems(topology: String = topologyFile, usEast: String = usEast, euCentral: String = euCentral) -> [String] {
        do {
            _ = try load(topology: topology, usEast: usEast, euCentral: euCentral)
            Issue.record("the topology loaded, but it should have been refused")
            return []
        } catch let error as ConfigErrors {
            return error.problems.map(\.description)
        } catch {
            Issue.record("unexpected error \(error)")
            return []
        }
    }

    @Test func loadsAValidTopology() throws {
        let topology = try load()
        #expect(topology.realms.map(\.id) == ["us", "eu", "global"])
        #expect(topology.realm("global")?.regions == ["eu-central", "us-east"])
        #expect(topology.shards.map(\.id) == ["eu-central-1", "us-east-1"])
        #expect(topology.port(of: NodeID(shard: "us-east-1", zone: "us-east-c")) == 25412)
        #expect(topology.failover == FailoverSettings())
        #expect(topology.serviceLevels.tier("premium")?.uptimeTargetPercent == 99.9)
        #expect(topology.apps == [App(key: "tempo", residencyEligible: true)])
    }

    @Test func theShippedDefaultTopologyIsValid() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let topology = try TopologyLoader.load(directory: root.appendingPathComponent("regions").path)
        #expect(topology.regions.count >= 3)
        #expect(topology.regions.allSatisfy { $0.zones.count == 3 })
        #expect(topology.realm("eu")?.regions == ["eu-central", "eu-west"])
        #expect(topology.serviceLevels.tier("premium")?.uptimeTargetPercent == 99.9)
        #expect(topology.serviceLevels.tier("enterprise")?.uptimeTargetPercent == 99.95)
        #expect(topology.regions.allSatisfy { !$0.ports.contains(5432) })
    }

    @Test func refusesAnUnknownKeyAtItsPosition() {
        let text = Self.usEast.replacing("ports: 25410-25419", with: "ports: 25410-25419\nreplicas: 3")
        #expect(problems(usEast: text) == [
            "regions/us-east.yaml:4:1: unknown key 'replicas' in region file (allowed: region, zones, ports, shards)",
        ])
    }

    @Test func refusesAnUnknownKeyInsideANestedMapping() {
        let text = Self.topologyFile.replacing("  port: 25400", with: "  port: 25400\n  host: db.example")
        #expect(problems(topology: text) == [
            "regions/topology.yaml:3:3: unknown key 'host' in control (allowed: port)",
        ])
    }

    @Test func refusesADuplicateYAMLKey() {
        let text = Self.topologyFile.replacing("  eu: [eu-central]", with: "  eu: [eu-central]\n  eu: [us-east]")
        let found = problems(topology: text)
        #expect(found.count == 1, "\(found)")
        #expect(found.first?.hasPrefix("regions/topology.yaml:") == true)
        #expect(found.first?.contains("duplicate key 'eu'") == true)
    }

    @Test func refusesAZoneNameUsedInTwoRegions() {
        let text = Self.euCentral.replacing("zones: [eu-central-a, eu-central-b, eu-central-c]\nports", with: "zones: [eu-central-a, eu-central-b, us-east-c]\nports")
        let found = problems(euCentral: text)
        #expect(found.first == "regions/us-east.yaml:2:31: duplicate zone 'us-east-c' (first at regions/eu-central.yaml:2:37)")
    }

    @Test func refusesTwoRegionsOfTheSameName() {
        let text = Self.regionFile("us-east", ports: "25420-25429").replacing("us-east-1", with: "us-east-2")
            .replacing("us-east-a", with: "x-a").replacing("us-east-b", with: "x-b").replacing("us-east-c", with: "x-c")
        #expect(problems(euCentral: text).contains("regions/us-east.yaml:1:9: duplicate region 'us-east' (first at regions/eu-central.yaml:1:9)"))
    }

    @Test func refusesTwoShardsOfTheSameID() {
        let text = Self.usEast.replacing("id: us-east-1", with: "id: eu-central-1")
        #expect(problems(usEast: text) == [
            "regions/us-east.yaml:5:9: duplicate shard 'eu-central-1' (first at regions/eu-central.yaml:5:9)",
        ])
    }

    @Test func refusesARealmNamingAnUnknownRegion() {
        let text = Self.topologyFile.replacing("  us: [us-east]", with: "  us: [us-west]")
        #expect(problems(topology: text) == [
            "regions/topology.yaml:4:8: realm 'us' names unknown region 'us-west' (regions: eu-central, us-east)",
        ])
    }

    @Test func refusesAShardWithFewerThanTwoZones() {
        let text = Self.regionFile("us-east", ports: "25410-25419", shardZones: "[us-east-a]")
        let found = problems(usEast: text)
        #expect(found.count == 1, "\(found)")
        #expect(found.first?.hasPrefix("regions/us-east.yaml:5:9: shard 'us-east-1' has 1 zone(s): a shard needs at least two zones") == true)
    }

    @Test func refusesAShardMemberInAZoneOfAnotherRegion() {
        let text = Self.regionFile("us-east", ports: "25410-25419", shardZones: "[us-east-a, eu-central-b]")
        #expect(problems(usEast: text) == [
            "regions/us-east.yaml:6:24: shard 'us-east-1' of region 'us-east' has a member in zone 'eu-central-b' of region 'eu-central': replication never leaves a region",
        ])
    }

    @Test func refusesAShardMemberInAnUnknownZone() {
        let text = Self.regionFile("us-east", ports: "25410-25419", shardZones: "[us-east-a, us-east-q]")
        #expect(problems(usEast: text) == [
            "regions/us-east.yaml:6:24: shard 'us-east-1' names unknown zone 'us-east-q' (zones of 'us-east': us-east-a, us-east-b, us-east-c)",
        ])
    }

    @Test func refusesPortRangesThatCollide() {
        let text = Self.regionFile("us-east", ports: "25425-25434")
        #expect(problems(usEast: text) == [
            "regions/us-east.yaml:3:8: ports 25425-25434 of region 'us-east' collide with the ports of region 'eu-central' (regions/eu-central.yaml:3:8)",
        ])
    }

    @Test func refusesARegionRangeHoldingTheControlPort() {
        let text = Self.regionFile("us-east", ports: "25395-25404")
        #expect(problems(usEast: text) == [
            "regions/us-east.yaml:3:8: ports 25395-25404 of region 'us-east' collide with the control server (port 25400)",
        ])
    }

    @Test func refusesARangeTooSmallForTheRegionsNodes() {
        let text = Self.regionFile("us-east", ports: "25410-25411")
        #expect(problems(usEast: text) == [
            "regions/us-east.yaml:3:8: region 'us-east' needs 3 ports for its nodes, and ports 25410-25411 has 2",
        ])
    }

    @Test func refusesARangeHoldingPostgresDefaultPort() {
        let text = Self.regionFile("us-east", ports: "5430-5439")
        #expect(problems(usEast: text) == [
            "regions/us-east.yaml:3:8: ports 5430-5439 include 5432, PostgreSQL's default port: choose a range like 25410-25429",
        ])
    }

    @Test func refusesAMalformedRange() {
        #expect(problems(usEast: Self.regionFile("us-east", ports: "lots")) == [
            "regions/us-east.yaml:3:8: ports must be a range FIRST-LAST within 1024-65535, like 25410-25429, not 'lots'",
        ])
    }

    @Test func refusesANameThatCannotBecomeAPostgresIdentifier() {
        let text = Self.usEast.replacing("id: us-east-1", with: "id: US_East_1")
        let found = problems(usEast: text)
        #expect(found.first?.hasPrefix("regions/us-east.yaml:5:9: shard id 'US_East_1' is not a valid name") == true)
    }

    @Test func refusesACreditBandAboveTheTierTarget() {
        let text = Self.topologyFile.replacing("- uptime_below_percent: 99.9", with: "- uptime_below_percent: 99.99")
        #expect(problems(topology: text) == [
            "regions/topology.yaml:14:31: a credit band starts at 99.99 %, above the tier's own target of 99.9 %",
        ])
    }

    @Test func refusesAProbeDeadlineThatIsNotBelowFailoverAfter() {
        let text = Self.topologyFile + "\nfailover:\n  probe_deadline_ms: 2000\n  failover_after_ms: 1000\n"
        let found = problems(topology: text)
        #expect(found.first?.hasPrefix("regions/topology.yaml:17:22: failover.probe_deadline_ms must be below failover_after_ms") == true, "\(found)")
    }

    @Test func reportsEveryProblemOfOneRunNotJustTheFirst() {
        let text = Self.regionFile("us-east", ports: "5430-5439", shardZones: "[us-east-a]")
        #expect(problems(usEast: text).count == 2)
    }

    @Test func reportsAYAMLSyntaxErrorWithItsPosition() {
        let found = problems(usEast: "region: us-east\nzones: [us-east-a\nports: 1-2\n")
        #expect(found.count == 1, "\(found)")
        #expect(found.first?.hasPrefix("regions/us-east.yaml:") == true)
    }

    @Test func refusesADirectoryWithoutTopologyYAML() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("residency-empty-\(UInt64.random(in: 0...UInt64.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(throws: ConfigErrors.self) { try TopologyLoader.load(directory: directory.path) }
    }

    // Regression tests of defects a fuzzer found (issue 13): each value was accepted before.

    @Test func refusesAControlPortOnPostgresDefaultOrInTheEphemeralRange() {
        for (port, fragment) in [("5432", "include 5432"), ("40000", "ephemeral ports 32768-60999")] {
            let found = problems(topology: Self.topologyFile.replacing("port: 25400", with: "port: \(port)"))
            #expect(found.count == 1 && found[0].hasPrefix("regions/topology.yaml:2:9: control.port \(port) is unsuitable"), "\(found)")
            #expect(found.first?.contains(fragment) == true, "\(found)")
        }
        let ephemeral = problems(usEast: Self.regionFile("us-east", ports: "60990-61010"))
        #expect(ephemeral.first?.contains("overlap Linux's ephemeral ports") == true, "\(ephemeral)")
    }

    @Test func refusesAProbeIntervalThatIsNotBelowFailoverAfter() {
        let found = problems(topology: Self.topologyFile + "\nfailover:\n  probe_interval_ms: 2000\n  failover_after_ms: 1000\n")
        #expect(found.first?.hasPrefix("regions/topology.yaml:17:22: failover.probe_interval_ms must be below failover_after_ms") == true, "\(found)")
    }

    @Test func refusesServiceLevelsWithoutATier() {
        let text = Self.topologyFile.components(separatedBy: "service_levels:")[0] + "service_levels: {}\n"
        #expect(problems(topology: text).first?.contains("service_levels defines no tier") == true)
    }

    @Test func refusesDuplicateOrNonMonotonicCreditBands() {
        let band = "      - uptime_below_percent: 99.9\n        credit_percent: 10"
        let duplicate = Self.topologyFile.replacing(band, with: band + "\n" + band)
        #expect(problems(topology: duplicate).first?.contains("uptime_below_percent going down: 99.9 after 99.9") == true, "\(problems(topology: duplicate))")
        let lessCredit = Self.topologyFile.replacing(band, with: band + "\n      - uptime_below_percent: 99\n        credit_percent: 5")
        #expect(problems(topology: lessCredit).first?.contains("a lower uptime must earn a higher credit") == true, "\(problems(topology: lessCredit))")
    }

    @Test func refusesARealmListingARegionTwice() {
        let found = problems(topology: Self.topologyFile.replacing("us: [us-east]", with: "us: [us-east, us-east]"))
        #expect(found == ["regions/topology.yaml:4:17: realm 'us' lists region 'us-east' twice"])
    }

    @Test func refusesAYAMLNullWhereANameBelongsAndAcceptsTheQuotedWord() throws {
        let found = problems(usEast: Self.usEast.replacing("id: us-east-1", with: "id: null"))
        #expect(found.contains { $0.contains("shard id is empty (YAML null)") }, "\(found)")
        let empty = problems(usEast: Self.usEast.replacing("id: us-east-1", with: "id:"))
        #expect(empty.contains { $0.contains("shard id is empty (YAML null)") }, "\(empty)")
        let topology = try load(usEast: Self.usEast.replacing("id: us-east-1", with: "id: \"null\""))
        #expect(topology.shards.contains { $0.id == "null" })
    }

    @Test func aliasesAreRefusedBeforeTheyExpandAndAnAliasBombEndsAtOnce() throws {
        var bomb = "a: &l0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1...6 { bomb += "l\(level): &l\(level) {" + (0..<10).map { "k\($0): *l\(level - 1)" }.joined(separator: ", ") + "}\n" }
        bomb += "? *l6\n: boom\n"
        let started = ContinuousClock.now
        let found = problems(topology: bomb)
        #expect(ContinuousClock.now - started < .seconds(2))
        #expect(found.count == 1 && found[0].hasPrefix("regions/topology.yaml:2:") && found[0].contains("YAML aliases (*name) are not accepted"), "\(found)")
        let large = "control:\n  port: 25400\n#" + String(repeating: "x", count: 2 << 20) + "\n"
        #expect(problems(topology: large).first?.contains("larger than 1024 KiB") == true)
    }

    @Test func editorLockAndHiddenFilesAreNoRegions() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("residency-editor-\(UInt64.random(in: 0...UInt64.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for (name, text) in [("topology.yaml", Self.topologyFile), ("us-east.yaml", Self.usEast), ("eu-central.yaml", Self.euCentral),
                             (".#us-east.yaml", "garbage: ["), ("#us-east.yaml#", "garbage: ["), (".hidden.yaml", "garbage: [")] {
            try text.write(to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        #expect(try TopologyLoader.load(directory: directory.path).regions.count == 2)
    }
}
