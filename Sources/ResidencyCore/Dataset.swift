/// One unit of a tenant's data that a move handles as a whole: a product, or an installed app.
public struct Dataset: Hashable, Sendable, Codable {
    public enum Kind: String, Hashable, Sendable, Codable {
        case product
        case app
    }

    public let kind: Kind
    /// The product's name or the app's key.
    public let name: String
    /// The PostgreSQL schema holding the dataset's tables.
    public let schema: String
    public let tables: [String]
    /// Products always move; an app moves only when the catalogue marks it residency-eligible.
    public let residencyEligible: Bool

    public init(kind: Kind, name: String, schema: String, tables: [String], residencyEligible: Bool) {
        self.kind = kind
        self.name = name
        self.schema = schema
        self.tables = tables
        self.residencyEligible = residencyEligible
    }

    /// `schema.table` for each table.
    public var qualifiedTables: [String] { tables.map { "\(schema).\($0)" } }

    public static func product(_ product: Product) -> Dataset {
        Dataset(kind: .product, name: product.rawValue, schema: product.schemaName, tables: product.tables, residencyEligible: true)
    }

    public static func app(_ app: App) -> Dataset {
        Dataset(kind: .app, name: app.key.rawValue, schema: app.schemaName, tables: ["records"], residencyEligible: app.residencyEligible)
    }

    /// The datasets of `tenant`, products first, in the catalogue's order. An app the
    /// topology no longer lists counts as not eligible (its data stays where it is).
    public static func of(_ tenant: Tenant, in topology: Topology) -> [Dataset] {
        let products = Product.allCases.filter { tenant.products.contains($0.rawValue) }.map(Dataset.product)
        let apps = tenant.apps.map { key in
            topology.app(AppKey(key)).map(Dataset.app)
                ?? Dataset(kind: .app, name: key, schema: App(key: AppKey(key), residencyEligible: false).schemaName,
                           tables: ["records"], residencyEligible: false)
        }
        return products + apps
    }
}
