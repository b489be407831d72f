import ArgumentParser
import ResidencyCore
import ResidencyRuntime

struct ConninfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conninfo",
        abstract: "The libpq connection string of a tenant: its shard's nodes, primary first, read-write, tenant context set.",
        discussion: "Any libpq client using it follows a failover by itself. Example: psql \"$(residency conninfo --tenant acme)\"")

    @Option(help: "The tenant.")
    var tenant: String
    @Option(help: "An app of the tenant: the shard holding that app's data (an app that is not residency-eligible stays where it was when the tenant moved).")
    var app: String?
    @OptionGroup var state: StateOptions

    func run() throws {
        guard let id = TenantID(validating: tenant) else {
            throw Failure(message: "invalid tenant name '\(tenant)': use \(TenantID.pattern)", exitCode: Failure.invalidInput)
        }
        let layout = try state.directory.requireLayout()
        Terminal.output(try TenantConnection.connectionString(for: id, control: try ControlStore(layout: layout), layout: layout, app: app))
    }
}

