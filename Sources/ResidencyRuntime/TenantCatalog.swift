import Foundation
import ResidencyCore
import ResidencyPostgres

/// Creates tenants: validates the request, places the tenant on the least-loaded shard of
/// its realm, gives it its own login role and passfile (`TenantCredentials`), records it in
/// the control database and (optionally) writes demo rows on its shard's primary, logged in
/// as the tenant.
public struct TenantCatalog {
    let control: ControlStore
    let data: DataNodes
    let topology: Topology

    public init(control: ControlStore, data: DataNodes, topology: Topology) {
        self.control = control
        self.data = data
        self.topology = topology
    }

    /// A request as the user typed it; `create` validates every field.
    public struct Request: Sendable {
        public var name: String
        public var realm: String
        public var region: String?
        /// `nil`: every product.
        public var products: [String]?
        public var apps: [String]
        public var demoRows: Int

        public init(name: String, realm: String, region: String? = nil, products: [String]? = nil, apps: [String] = [], demoRows: Int = 0) {
            self.name = name
            self.realm = realm
            self.region = region
            self.products = products
            self.apps = apps
            self.demoRows = demoRows
        }
    }

    /// The tenants `up --demo` creates: one per realm, with every product, every app, and rows.
    public static func demoRequests(_ topology: Topology) -> [Request] {
        topology.realms.map { realm in
            Request(name: "demo-\(realm.id)", realm: realm.id.rawValue, apps: topology.apps.map(\.key.rawValue), demoRows: 50)
        }
    }

    /// Validates the request (nothing is changed when it is refused), places and records the tenant.
    public func create(_ request: Request) throws(RuntimeError) -> Tenant {
        guard let tenant = TenantID(validating: request.name) else {
            throw RuntimeError(.invalidInput, "invalid tenant name '\(request.name)': use \(TenantID.pattern) (lower-case letters, digits, hyphens)")
        }
        var products: [Product] = []
        for name in request.products ?? Product.allCases.map(\.rawValue) {
            guard let product = Product(rawValue: name) else {
                throw RuntimeError(.invalidInput, "unknown product '\(name)' (products: \(Product.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            if !products.contains(product) { products.append(product) }
        }
        var apps: [App] = []
        for key in request.apps {
            guard let app = topology.app(AppKey(key)) else {
                let known = topology.apps.map(\.key.rawValue)
                throw RuntimeError(.invalidInput, "unknown app '\(key)' (catalogue: \(known.isEmpty ? "empty" : known.joined(separator: ", ")))")
            }
            if !apps.contains(app) { apps.append(app) }
        }
        guard (0...1_000_000).contains(request.demoRows) else {
            throw RuntimeError(.invalidInput, "--demo-rows must be from 0 to 1000000, not \(request.demoRows)")
        }
        let shard: ShardID
        do {
            shard = try Placement.shard(
                forRealm: RealmID(request.realm), region: request.region.map { RegionID($0) }, in: topology,
                tenantsPerShard: try control.tenantCounts())
        } catch let refusal as Placement.Refusal {
            throw RuntimeError(.invalidInput, refusal.description)
        } catch let error as RuntimeError {
            throw error
        } catch {
            throw RuntimeError(.unavailable, "\(error)")
        }
        let record = Tenant(
            id: tenant, realm: RealmID(request.realm), shard: shard, products: products.map(\.rawValue),
            apps: apps.map(\.key.rawValue), createdAt: "")
        guard try !control.tenants().contains(where: { $0.id == tenant }) else {
            throw RuntimeError(.invalidInput, "tenant '\(tenant)' already exists")
        }
        let (primary, port) = try control.primaryPort(of: shard)
        // Its own login first (a creation that crashes before the catalogue records the
        // tenant leaves a role and a passfile that the next attempt replaces).
        let credentials = TenantCredentials(layout: data.layout)
        let password = try credentials.generate(for: tenant)
        try credentials.install(tenant, password: password, on: try data.connect(port: port))
        CrashPoint.reach("tenant.after-role")
        try control.insertTenant(record) { () throws(RuntimeError) in
            guard request.demoRows > 0 else { return }
            let connection = try credentials.connect(tenant, port: port)
            do {
                try TenantSchema.insertDemoRows(tenant, products: products, apps: apps, rows: request.demoRows, on: connection)
            } catch {
                throw RuntimeError(.unavailable, "cannot write tenant \(tenant)'s rows on \(primary): \(error)")
            }
            CrashPoint.reach("tenant.after-data")
        }
        return record
    }

    /// Deletes a tenant and all its data: its rows on every shard holding some (also the
    /// retained source copies of its moves), its fence entries and its login role there,
    /// then its catalogue entry, then its passfile. Refused while one of its moves runs or
    /// waits for its window. A deletion that dies part way is finished by running it again
    /// (crash point `tenant.after-rows`).
    public func delete(_ name: String) throws(RuntimeError) -> Tenant {
        guard let id = TenantID(validating: name) else {
            throw RuntimeError(.invalidInput, "invalid tenant name \(Printable.quoted(name)): use \(TenantID.pattern)")
        }
        guard let tenant = try control.tenants().first(where: { $0.id == id }) else {
            throw RuntimeError(.invalidInput, "unknown tenant '\(id)' (see residency tenant list)")
        }
        let moves = try control.moves().filter { $0.tenant == id }
        if let open = moves.first(where: { !$0.phase.isFinal && $0.phase != .retained }) {
            throw RuntimeError(.invalidInput, "tenant \(id) has move \(open.id) in phase \(open.phase.rawValue): cancel it, roll it back or let it finish first")
        }
        let shards = tenant.shards.union(moves.filter { $0.phase == .retained }.map(\.plan.fromShard))
        let credentials = TenantCredentials(layout: data.layout)
        for shard in shards.sorted() {
            let (primary, port) = try control.primaryPort(of: shard)
            let connection = try data.connect(port: port)
            do {
                try TenantSchema.deleteRows(of: id, tables: TenantSchema.tables(apps: topology.apps), on: connection)
                try connection.query("DELETE FROM residency.frozen_tenants WHERE tenant_id = $1", [id.rawValue])
            } catch {
                throw RuntimeError(.unavailable, "cannot delete tenant \(id)'s rows on \(primary): \(error)")
            }
            try credentials.remove(id, on: connection)
        }
        CrashPoint.reach("tenant.after-rows")
        try control.deleteTenant(id)
        try? FileManager.default.removeItem(atPath: credentials.passfile(of: id))
        return tenant
    }
}
