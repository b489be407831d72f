import ResidencyCore

/// `residency tenant list`.
public enum TenantReport {
    public static func text(_ tenants: [Tenant]) -> String {
        guard !tenants.isEmpty else { return "no tenants (create one with `residency tenant create NAME --realm REALM`)" }
        var table = TextTable(header: ["TENANT", "REALM", "SHARD", "PRODUCTS", "APPS", "CREATED"])
        for tenant in tenants {
            table.append([
                tenant.id.rawValue, tenant.realm.rawValue, tenant.shard.rawValue,
                tenant.products.joined(separator: ","),
                tenant.apps.isEmpty ? "-" : tenant.apps.map { app in tenant.appShards[app].map { "\(app)@\($0)" } ?? app }.joined(separator: ","),
                tenant.createdAt,
            ])
        }
        return table.render()
    }

    public static func json(_ tenants: [Tenant]) -> String {
        JSONDocument.render(Document(version: JSONDocument.version, tenants: tenants.map { tenant in
            TenantDocument(tenant: tenant.id.rawValue, realm: tenant.realm.rawValue, shard: tenant.shard.rawValue,
                           products: tenant.products, apps: tenant.apps, createdAt: tenant.createdAt,
                           appShards: tenant.appShards.mapValues(\.rawValue))
        }))
    }

    struct Document: Encodable {
        let version: Int
        let tenants: [TenantDocument]
    }

    struct TenantDocument: Encodable {
        let tenant: String
        let realm: String
        let shard: String
        let products: [String]
        let apps: [String]
        let createdAt: String
        /// Apps whose data stayed on another shard when the tenant moved.
        let appShards: [String: String]

        enum CodingKeys: String, CodingKey {
            case tenant, realm, shard, products, apps, createdAt = "created_at", appShards = "app_shards"
        }
    }
}
