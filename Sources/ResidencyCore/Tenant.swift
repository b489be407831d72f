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

    public init(id: TenantID, realm: RealmID, shard: ShardID, products: [String], apps: [String], createdAt: String) {
        self.id = id
        self.realm = realm
        self.shard = shard
        self.products = products
        self.apps = apps
        self.createdAt = createdAt
    }
}
