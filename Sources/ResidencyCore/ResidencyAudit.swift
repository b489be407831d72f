/// Where every copy of every tenant's rows lives, judged against the tenant's pin (pure;
/// the runtime counts the rows on every node).
public enum ResidencyAudit {
    /// Rows of one tenant in one schema on one node.
    public struct Holding: Hashable, Sendable {
        public let node: NodeID
        public let tenant: TenantID
        public let schema: String
        public let rows: Int64

        public init(node: NodeID, tenant: TenantID, schema: String, rows: Int64) {
            self.node = node
            self.tenant = tenant
            self.schema = schema
            self.rows = rows
        }
    }

    public enum Status: Hashable, Sendable, CustomStringConvertible {
        /// In a region of the tenant's realm.
        case inRealm
        /// Outside the realm: the source copy of a switched (or retained) move, deleted on `date`.
        case pendingDeletion(move: Int64, date: String)
        /// Outside the realm: an app that is not residency-eligible (its data stays).
        case notEligible(app: String)
        /// Outside the realm: the target copy of a move that has not switched yet.
        case incoming(move: Int64, phase: MovePhase)
        /// Outside the realm, and nothing accounts for it.
        case violation
        /// A retained copy whose retention ended and that is not purged yet.
        case retentionOver(move: Int64, date: String)

        public var flagged: Bool {
            switch self {
            case .violation, .retentionOver: true
            case .inRealm, .pendingDeletion, .notEligible, .incoming: false
            }
        }

        public var description: String {
            switch self {
            case .inRealm: "in realm"
            case let .pendingDeletion(move, date): "source copy of move \(move), pending deletion on \(date)"
            case let .notEligible(app): "app \(app) is not residency-eligible: stays"
            case let .incoming(move, phase): "target copy of move \(move) (\(phase.rawValue))"
            case .violation: "VIOLATION: outside the realm"
            case let .retentionOver(move, date): "VIOLATION: retention of move \(move) ended \(date), not purged"
            }
        }
    }

    public struct Finding: Hashable, Sendable {
        public let tenant: TenantID
        public let realm: RealmID
        public let node: NodeID
        public let region: RegionID
        public let schema: String
        public let rows: Int64
        public let status: Status
    }

    /// One finding per holding, sorted by tenant, node, schema. `now` is ISO 8601 UTC
    /// (`YYYY-MM-DDTHH:MM:SSZ`, the format of `Move.retainUntil`).
    public static func findings(
        holdings: [Holding], tenants: [Tenant], moves: [Move], topology: Topology, now: String
    ) -> [Finding] {
        let byID = Dictionary(tenants.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        return holdings.sorted { ($0.tenant, $0.node.description, $0.schema) < ($1.tenant, $1.node.description, $1.schema) }.map { holding in
            let region = topology.shard(holding.node.shard)?.region ?? RegionID("?")
            guard let tenant = byID[holding.tenant] else {
                return Finding(tenant: holding.tenant, realm: RealmID("?"), node: holding.node, region: region, schema: holding.schema,
                               rows: holding.rows, status: .violation)
            }
            let status = judge(holding, tenant: tenant, region: region, moves: moves.filter { $0.tenant == tenant.id }, topology: topology, now: now)
            return Finding(tenant: tenant.id, realm: tenant.realm, node: holding.node, region: region, schema: holding.schema, rows: holding.rows, status: status)
        }
    }

    static func judge(_ holding: Holding, tenant: Tenant, region: RegionID, moves: [Move], topology: Topology, now: String) -> Status {
        if topology.realm(tenant.realm)?.regions.contains(region) == true { return .inRealm }
        let dataset = Dataset.of(tenant, in: topology).first { $0.schema == holding.schema }
        if let dataset, !dataset.residencyEligible, tenant.shard(of: dataset) == holding.node.shard {
            return .notEligible(app: dataset.name)
        }
        let movedHere = moves.filter { $0.plan.movingDatasets.contains { $0.schema == holding.schema } }
        // The switch records the retention date in the same transaction that points the
        // catalogue at the target, so a switched move's source copy is retained from that
        // moment on, before its cleanup has run.
        if let retained = movedHere.last(where: { ($0.phase == .switched || $0.phase == .retained) && $0.plan.fromShard == holding.node.shard }),
           let date = retained.retainUntil {
            return date > now ? .pendingDeletion(move: retained.id, date: date) : .retentionOver(move: retained.id, date: date)
        }
        if let incoming = movedHere.last(where: { $0.phase.isOpen && $0.plan.toShard == holding.node.shard }) {
            return .incoming(move: incoming.id, phase: incoming.phase)
        }
        return .violation
    }
}

extension ResidencyAudit {
    /// Vault objects holding one tenant's data in one region: a shard's base backups, its WAL
    /// archive, or rows a tenant restore replaced.
    public struct VaultHolding: Hashable, Sendable {
        public enum Kind: String, Hashable, Sendable {
            case baseBackup = "base backups"
            case wal = "WAL archive"
            case replacedRows = "replaced rows"
        }

        public let tenant: TenantID
        public let region: RegionID
        public let shard: ShardID?
        public let kind: Kind
        public let objects: Int
        public let bytes: Int64
        /// The latest retain-until among the objects, ISO 8601 UTC.
        public let retainUntil: String

        public init(tenant: TenantID, region: RegionID, shard: ShardID?, kind: Kind, objects: Int, bytes: Int64, retainUntil: String) {
            self.tenant = tenant
            self.region = region
            self.shard = shard
            self.kind = kind
            self.objects = objects
            self.bytes = bytes
            self.retainUntil = retainUntil
        }
    }

    public enum VaultStatus: Hashable, Sendable, CustomStringConvertible {
        case inRealm
        /// Outside the realm: backups of the shard a switched move took the tenant from,
        /// kept (write once) until their retain-until.
        case retainedAfterMove(move: Int64, until: String)
        /// Outside the realm, and nothing accounts for it.
        case violation

        public var flagged: Bool { self == .violation }

        public var description: String {
            switch self {
            case .inRealm: "in realm"
            case let .retainedAfterMove(move, until): "from before move \(move), retained (write once) until \(until)"
            case .violation: "VIOLATION: outside the realm"
            }
        }
    }

    public struct VaultFinding: Hashable, Sendable {
        public let holding: VaultHolding
        public let realm: RealmID
        public let status: VaultStatus
    }

    /// One finding per vault holding, sorted by tenant, region, shard, kind.
    public static func vaultFindings(holdings: [VaultHolding], tenants: [Tenant], moves: [Move], topology: Topology) -> [VaultFinding] {
        let byID = Dictionary(tenants.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        return holdings.sorted {
            ($0.tenant, $0.region, $0.shard?.rawValue ?? "", $0.kind.rawValue) < ($1.tenant, $1.region, $1.shard?.rawValue ?? "", $1.kind.rawValue)
        }.map { holding in
            guard let tenant = byID[holding.tenant] else { return VaultFinding(holding: holding, realm: RealmID("?"), status: .violation) }
            if topology.realm(tenant.realm)?.regions.contains(holding.region) == true {
                return VaultFinding(holding: holding, realm: tenant.realm, status: .inRealm)
            }
            let switched: Set<MovePhase> = [.switched, .retained, .purged]
            if let move = moves.last(where: { $0.tenant == tenant.id && switched.contains($0.phase) && $0.plan.fromShard == holding.shard }) {
                return VaultFinding(holding: holding, realm: tenant.realm, status: .retainedAfterMove(move: move.id, until: holding.retainUntil))
            }
            return VaultFinding(holding: holding, realm: tenant.realm, status: .violation)
        }
    }
}
