import ArgumentParser
import ResidencyReport
import ResidencyRuntime

struct TenantCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tenant",
        abstract: "Create and list tenants.",
        subcommands: [Create.self, List.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pin a new tenant to a realm and place it on the least-loaded shard there.",
            discussion: """
                The name must match [a-z0-9-]{1,63}. With --region the tenant goes to a shard of \
                that region, which must belong to the realm. Refused input exits 65 and changes nothing.

                Example:
                  residency tenant create acme --realm eu --apps tempo-timesheets
                """)

        @Argument(help: "The tenant's name, [a-z0-9-]{1,63}.")
        var name: String
        @Option(help: "The realm the tenant is pinned to (see regions/topology.yaml).")
        var realm: String
        @Option(help: "A region of the realm to place the tenant in.")
        var region: String?
        @Option(parsing: .upToNextOption, help: "Products (default: every product: jira confluence).")
        var products: [String] = []
        @Option(parsing: .upToNextOption, help: "Apps of the catalogue the tenant installed.")
        var apps: [String] = []
        @Option(name: .customLong("demo-rows"), help: "Rows to write per product table and app.")
        var demoRows: Int = 0
        @OptionGroup var state: StateOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let layout = try state.directory.requireLayout()
            let control = try ControlStore(layout: layout)
            let catalog = TenantCatalog(control: control, data: DataNodes(layout: layout), topology: try control.requireTopology())
            let tenant = try catalog.create(TenantCatalog.Request(
                name: name, realm: realm, region: region, products: products.isEmpty ? nil : products, apps: apps,
                demoRows: demoRows))
            let created = try control.tenants().filter { $0.id == tenant.id }
            if output.json {
                Terminal.output(TenantReport.json(created))
            } else {
                Terminal.output("tenant \(tenant.id) pinned to \(tenant.realm), placed on shard \(tenant.shard)")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tenants with their realm and shard.")

        @OptionGroup var state: StateOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let layout = try state.directory.requireLayout()
            let tenants = try ControlStore(layout: layout).tenants()
            Terminal.output(output.json ? TenantReport.json(tenants) : TenantReport.text(tenants))
        }
    }
}
