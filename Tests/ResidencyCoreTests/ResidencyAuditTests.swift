import ResidencyCore
import Testing

@Suite struct ResidencyAuditTests {
    let topology = MovePlannerTests().topology
    let acme = TenantID(validating: "acme")!

    func tenant(realm: RealmID, shard: ShardID, appShards: [String: ShardID] = [:]) -> Tenant {
        Tenant(id: acme, realm: realm, shard: shard, products: ["jira"], apps: ["tempo", "legacy"], createdAt: "", appShards: appShards)
    }

    func move(_ id: Int64, phase: MovePhase, from: ShardID, to: ShardID, retainUntil: String? = nil) throws -> Move {
        let plan = try MovePlanner.plan(
            tenantName: "acme", to: "eu", region: to == "eu-west-1" ? "eu-west" : "eu-central",
            tenants: [tenant(realm: "us", shard: from)], topology: topology, tenantsPerShard: [:],
            sizes: ["jira": DatasetSize(rows: 1, bytes: 1)], openMove: nil, history: MoveHistory())
        return Move(id: id, plan: plan, phase: phase, createdAt: "", updatedAt: "", switchedAt: nil, retainUntil: retainUntil,
                    retentionDays: 7, copiedRows: 0, lagBytes: nil, copyMilliseconds: nil, copyBytes: nil, freezeMilliseconds: nil,
                    reason: "", rollbackRequested: nil, verification: "")
    }

    func status(_ schema: String, on node: NodeID, tenant: Tenant, moves: [Move], now: String = "2026-11-27T00:00:00Z") -> ResidencyAudit.Status? {
        ResidencyAudit.findings(holdings: [ResidencyAudit.Holding(node: node, tenant: acme, schema: schema, rows: 3)],
                                tenants: [tenant], moves: moves, topology: topology, now: now).first?.status
    }

    let usNode = NodeID(shard: "us-east-1", zone: "us-east-b")
    let euNode = NodeID(shard: "eu-west-1", zone: "eu-west-a")

    func vaultStatus(region: RegionID, shard: ShardID, tenant: Tenant, moves: [Move]) -> ResidencyAudit.VaultStatus? {
        ResidencyAudit.vaultFindings(
            holdings: [ResidencyAudit.VaultHolding(tenant: acme, region: region, shard: shard, kind: .baseBackup, objects: 2, bytes: 10,
                                                   retainUntil: "2026-12-31T00:00:00Z")],
            tenants: [tenant], moves: moves, topology: topology).first?.status
    }

    /// A backup in the tenant's realm is fine; one in another region is a violation unless it
    /// was taken of the shard a switched move took the tenant from (kept until its retain-until).
    @Test func vaultCopiesAreJudgedAgainstThePin() throws {
        let moved = tenant(realm: "eu", shard: "eu-west-1")
        #expect(vaultStatus(region: "eu-west", shard: "eu-west-1", tenant: moved, moves: []) == .inRealm)
        #expect(vaultStatus(region: "us-east", shard: "us-east-1", tenant: moved, moves: []) == .violation)
        #expect(vaultStatus(region: "us-east", shard: "us-east-1", tenant: moved, moves: []).map(\.flagged) == true)
        let switched = try move(7, phase: .purged, from: "us-east-1", to: "eu-west-1")
        #expect(vaultStatus(region: "us-east", shard: "us-east-1", tenant: moved, moves: [switched])
            == .retainedAfterMove(move: 7, until: "2026-12-31T00:00:00Z"))
        let rolledBack = try move(8, phase: .rolledBack, from: "us-east-1", to: "eu-west-1")
        #expect(vaultStatus(region: "us-east", shard: "us-east-1", tenant: moved, moves: [rolledBack]) == .violation)
    }

    @Test func aCopyInTheRealmIsFine() {
        #expect(status("jira", on: euNode, tenant: tenant(realm: "eu", shard: "eu-west-1"), moves: []) == .inRealm)
    }

    @Test func aCopyOutsideTheRealmThatNothingExplainsIsAViolation() {
        let finding = status("jira", on: usNode, tenant: tenant(realm: "eu", shard: "eu-west-1"), moves: [])
        #expect(finding == .violation)
        #expect(finding?.flagged == true)
    }

    @Test func aRetainedSourceCopyIsPendingDeletionUntilItsDateAndFlaggedAfter() throws {
        let moved = try move(3, phase: .retained, from: "us-east-1", to: "eu-west-1", retainUntil: "2026-12-04T10:00:00Z")
        let eu = tenant(realm: "eu", shard: "eu-west-1")
        let pending = status("jira", on: usNode, tenant: eu, moves: [moved])
        #expect(pending == .pendingDeletion(move: 3, date: "2026-12-04T10:00:00Z"))
        #expect(pending?.flagged == false)
        let late = status("jira", on: usNode, tenant: eu, moves: [moved], now: "2026-12-04T10:00:01Z")
        #expect(late == .retentionOver(move: 3, date: "2026-12-04T10:00:00Z"))
        #expect(late?.flagged == true)
    }

    @Test func aSwitchedMovesSourceCopyIsPendingDeletionBeforeItsCleanupRan() throws {
        // The switch transaction records the retention date: from that moment no copy left on
        // the source may count as a violation, even while the cleanup is still retried.
        let switched = try move(3, phase: .switched, from: "us-east-1", to: "eu-west-1", retainUntil: "2026-12-04T10:00:00Z")
        let eu = tenant(realm: "eu", shard: "eu-west-1")
        #expect(status("jira", on: usNode, tenant: eu, moves: [switched]) == .pendingDeletion(move: 3, date: "2026-12-04T10:00:00Z"))
    }

    @Test func anIneligibleAppStaysWhereItIsWithoutAFlag() {
        let eu = tenant(realm: "eu", shard: "eu-west-1", appShards: ["legacy": "us-east-1"])
        #expect(status("app_legacy", on: usNode, tenant: eu, moves: []) == .notEligible(app: "legacy"))
        // An eligible app's copy there is not excused.
        #expect(status("app_tempo", on: usNode, tenant: eu, moves: []) == .violation)
    }

    @Test func aRunningMovesTargetCopyIsIncoming() throws {
        let running = try move(5, phase: .copying, from: "us-east-1", to: "eu-west-1")
        let us = tenant(realm: "us", shard: "us-east-1")
        #expect(status("jira", on: euNode, tenant: us, moves: [running]) == .incoming(move: 5, phase: .copying))
        let rolledBack = try move(5, phase: .rolledBack, from: "us-east-1", to: "eu-west-1")
        #expect(status("jira", on: euNode, tenant: us, moves: [rolledBack]) == .violation, "a rolled-back move must leave no rows behind")
    }
}
