/// A drill as `simulations/*.yaml` describes it: the topology, the tenants and their
/// workload, a fault schedule, the targets and what the scenario expects.
public struct Scenario: Hashable, Sendable {
    public struct Tenant: Hashable, Sendable {
        public let name: TenantID
        public let realm: RealmID
        public let region: RegionID?
        /// Rows of demo data the tenant holds before the workload starts (topped up when
        /// fewer), so that a move's copy takes long enough for a fault to hit it.
        public let seedRows: Int

        public init(name: TenantID, realm: RealmID, region: RegionID?, seedRows: Int = 0) {
            self.name = name
            self.realm = realm
            self.region = region
            self.seedRows = seedRows
        }
    }

    public enum Action: String, Hashable, Sendable, CaseIterable {
        /// SIGKILL every server process of a zone; the zone is held down.
        case powerLoss = "power-loss"
        /// SIGSTOP every server process of a zone; the zone is held down.
        case partition
        /// Release a zone (thaw it; its stopped servers rejoin).
        case heal
        /// Kill the coordinator.
        case coordinatorCrash = "coordinator-crash"
        /// Restart the coordinator so that it kills itself at `step` of its next failover.
        case coordinatorCrashAt = "coordinator-crash-at"
        /// Start the coordinator again.
        case coordinatorRestart = "coordinator-restart"
        /// Kill one shard's primary (not its zone).
        case crashPrimary = "crash-primary"
        /// Start a residency move of `tenant` to `toRealm` (after the drill's previous move ended).
        case move
        /// The mistake: delete every row of `tenant` (all its tables, one transaction).
        case deleteTenantRows = "delete-tenant-rows"
        /// Restore `tenant` to just before its last `delete-tenant-rows` (`backup restore --tenant`).
        case restoreTenant = "restore-tenant"
    }

    /// What a drill's move must end as.
    public enum MoveOutcome: String, Hashable, Sendable, CaseIterable {
        /// Switched to the target (retained, then purged by the drill).
        case done
        /// Rolled back: the tenant stays where it was.
        case rolledBack = "rolled-back"
        /// Either, by itself: where the fault's timing decides (a fault during the freeze).
        case ended
    }

    /// A `move` action's parameters.
    public struct MoveOrder: Hashable, Sendable {
        public let tenant: TenantID
        public let toRealm: RealmID
        public let toRegion: RegionID?
        public let expect: MoveOutcome

        public init(tenant: TenantID, toRealm: RealmID, toRegion: RegionID?, expect: MoveOutcome) {
            self.tenant = tenant
            self.toRealm = toRealm
            self.toRegion = toRegion
            self.expect = expect
        }
    }

    public struct Fault: Hashable, Sendable {
        public let at: Duration
        public let action: Action
        /// The zone it hits, given directly ...
        public let zone: ZoneID?
        /// ... or as the zone of this shard's primary at that moment (also the shard of `crash-primary`).
        public let primaryOf: ShardID?
        /// `coordinator-crash-at`: the failover step.
        public let step: ShardOperation.Step?
        /// `move`: which tenant goes where.
        public let move: MoveOrder?
        /// Fire no earlier than `at`, and only once the drill's move under way has journaled
        /// this phase (`prepared`: its initial copy is running).
        public let atMovePhase: MovePhase?
        /// A zone fault that may hit no shard's primary (a standby zone, one zone of several
        /// lost at once): without it, a zone fault that hits no primary fails the drill (it
        /// measures nothing).
        public let hitsNoPrimary: Bool
        /// `delete-tenant-rows`, `restore-tenant`: whose rows.
        public let tenant: TenantID?

        public init(at: Duration, action: Action, zone: ZoneID? = nil, primaryOf: ShardID? = nil, step: ShardOperation.Step? = nil,
                    move: MoveOrder? = nil, atMovePhase: MovePhase? = nil, hitsNoPrimary: Bool = false, tenant: TenantID? = nil) {
            self.tenant = tenant
            self.hitsNoPrimary = hitsNoPrimary
            self.at = at
            self.action = action
            self.zone = zone
            self.primaryOf = primaryOf
            self.step = step
            self.move = move
            self.atMovePhase = atMovePhase
        }
    }

    public let name: String
    public let summary: String
    /// The topology directory, as written in the file (relative to the scenario's folder).
    public let topologyDirectory: String
    public let duration: Duration
    public let tenants: [Tenant]
    public let writersPerTenant: Int
    /// Pause between two writes of one writer.
    public let writePause: Duration
    public let faults: [Fault]
    /// Targets: the drill fails when one is missed. `nil`: the scenario sets no RTO target
    /// (a target that is set but finds nothing to measure fails the drill).
    public let rtoMax: Duration?
    public let rpoMax: Int
    public let slaTier: TierID?
    /// Shards whose failover the coordinator must refuse (two zones down).
    public let expectRefused: [ShardID]
    /// Shards expected to stay without a primary (their region is down): no recovery needed.
    public let expectUnavailable: [ShardID]
    /// Longest stretch without an acknowledged write of a moving tenant during its move.
    public let moveGapMax: Duration?
    /// No write of a tenant sharing a moving tenant's source or target shard may fail during the move.
    public let expectNeighboursUnaffected: Bool

    public init(name: String, summary: String, topologyDirectory: String, duration: Duration, tenants: [Tenant], writersPerTenant: Int,
                writePause: Duration, faults: [Fault], rtoMax: Duration?, rpoMax: Int, slaTier: TierID?, expectRefused: [ShardID],
                expectUnavailable: [ShardID], moveGapMax: Duration? = nil, expectNeighboursUnaffected: Bool = false) {
        self.name = name
        self.summary = summary
        self.topologyDirectory = topologyDirectory
        self.duration = duration
        self.tenants = tenants
        self.writersPerTenant = writersPerTenant
        self.writePause = writePause
        self.faults = faults
        self.rtoMax = rtoMax
        self.rpoMax = rpoMax
        self.slaTier = slaTier
        self.expectRefused = expectRefused
        self.expectUnavailable = expectUnavailable
        self.moveGapMax = moveGapMax
        self.expectNeighboursUnaffected = expectNeighboursUnaffected
    }

    /// The tenants some `restore-tenant` action restores.
    public var restoredTenants: Set<TenantID> { Set(faults.filter { $0.action == .restoreTenant }.compactMap(\.tenant)) }

    /// The tenants some `move` action moves.
    public var movingTenants: Set<TenantID> { Set(faults.compactMap(\.move?.tenant)) }
}
