/// A tenant as the catalogue records it: its pin and the shard holding its datasets.
public struct Tenant: Hashable, Sendable {
    public let id: TenantID
    /// The pin: the realm its in-scope datasets must stay in.
    public let realm: RealmID
    public let shard: ShardID
    public let products: [String]
    public let apps: [String]
    /// ISO 8601, UTC.
    public let createdAt: String
    /// Apps whose data lives on another shard than `shard`: apps that are not
    /// residency-eligible stay where they were when the tenant moved.
    public let appShards: [String: ShardID]

    public init(
        id: TenantID, realm: RealmID, shard: ShardID, products: [String], apps: [String], createdAt: String,
        appShards: [String: ShardID] = [:]
    ) {
        self.id = id
        self.realm = realm
        self.shard = shard
        self.products = products
        self.apps = apps
        self.createdAt = createdAt
        self.appShards = appShards
    }

    /// Every shard holding some of its data (its shard, and those where apps stayed).
    public var shards: Set<ShardID> { Set(appShards.values).union([shard]) }

    /// The shard holding `dataset`.
    public func shard(of dataset: Dataset) -> ShardID {
        dataset.kind == .app ? appShards[dataset.name] ?? shard : shard
    }
}
