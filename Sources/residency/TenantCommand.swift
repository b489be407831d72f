import ArgumentParser
import ResidencyCore
import ResidencyReport
import ResidencyRuntime

struct TenantCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tenant",
        abstract: "Create, list and delete tenants; show or rotate a tenant's credentials.",
        subcommands: [Create.self, List.self, Credentials.self, Delete.self])

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

    struct Credentials: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a tenant's login role and passfile; with --rotate, give it a new password.",
            discussion: """
                Each tenant logs in as its own role, with a password kept in a passfile of its own \
                (mode 0600); `residency conninfo --tenant T` names that file. --rotate sets a new random \
                password on the primary of every shard holding the tenant's data (as a SCRAM verifier), \
                then writes it into the passfile. Sessions already open stay open; other tenants are not \
                touched. If a shard refuses, the shards already changed get the old password back and the \
                passfile is left as it was (exit 2).

                Example:
                  residency tenant credentials acme --rotate
                """)

        @Argument(help: "The tenant.")
        var name: String
        @Flag(help: "Give the tenant a new password.")
        var rotate = false
        @OptionGroup var state: StateOptions
        @OptionGroup var output: OutputOptions

        private struct Document: Encodable {
            let version = JSONDocument.version
            let tenant: String
            let role: String
            let passfile: String
            let rotated: Bool
        }

        func run() throws {
            guard let id = TenantID(validating: name) else {
                throw Failure(message: "invalid tenant name '\(name)': use \(TenantID.pattern)", exitCode: Failure.invalidInput)
            }
            let layout = try state.directory.requireLayout()
            let control = try ControlStore(layout: layout)
            guard let tenant = try control.tenants().first(where: { $0.id == id }) else {
                throw Failure(message: "unknown tenant '\(id)' (see residency tenant list)", exitCode: Failure.invalidInput)
            }
            let credentials = TenantCredentials(layout: layout)
            if rotate {
                try credentials.rotate(id, shards: tenant.shards.sorted(), control: control, data: DataNodes(layout: layout))
            }
            let document = Document(tenant: id.rawValue, role: credentials.role(of: id), passfile: credentials.passfile(of: id), rotated: rotate)
            if output.json {
                Terminal.output(JSONDocument.render(document))
            } else {
                Terminal.output("""
                    tenant \(id): login role \(document.role), passfile \(document.passfile)\(rotate ? " (new password set)" : "")
                    """)
            }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a tenant and all its data: rows on every shard holding some, its login role, its catalogue entry, its passfile.",
            discussion: """
                Also deletes the retained source copies of its moves. Refused (exit 65) while one of its \
                moves runs or waits for its window. Needs --yes. A deletion that stopped part way is \
                finished by running it again.

                Example:
                  residency tenant delete acme --yes
                """)

        @Argument(help: "The tenant.")
        var name: String
        @Flag(help: "Confirm: the tenant's data cannot be brought back.")
        var yes = false
        @OptionGroup var state: StateOptions
        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard yes else { throw ValidationError("deleting tenant \(Printable.quoted(name)) removes all its data on every node: pass --yes") }
        }

        func run() throws {
            let layout = try state.directory.requireLayout()
            let control = try ControlStore(layout: layout)
            let catalog = TenantCatalog(control: control, data: DataNodes(layout: layout), topology: try control.requireTopology())
            let tenant = try catalog.delete(name)
            Terminal.output(output.json
                ? "{\n  \"deleted\" : \"\(tenant.id)\",\n  \"version\" : \(JSONDocument.version)\n}"
                : "tenant \(tenant.id) deleted: its rows, its login role and its passfile are gone")
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
