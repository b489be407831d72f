import ArgumentParser
import Foundation
import Logging
import ResidencyReport
import ResidencyRuntime

struct DownCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "down",
        abstract: "Stop every server of the local topology (by the pid it recorded).",
        discussion: "Primaries stop first, then standbys, then the control server. `up` starts them again.")

    @OptionGroup var state: StateOptions
    @Flag(name: .long, help: "Also delete the state directory and all server data. Cannot be undone.")
    var purge = false
    @OptionGroup var output: OutputOptions

    func run() throws {
        let directory = state.directory
        let runner = LocalTopology(state: directory, logger: Logger(label: "residency.down"), progress: Terminal.progress())
        let report = try runner.down(purge: purge)
        if output.json {
            Terminal.output(JSONDocument.render(Document(
                version: JSONDocument.version, state: directory.path,
                stopped: report.stopped.map { Stopped(server: $0.server, pid: $0.pid) }, purged: report.purged != nil,
                keptVault: report.keptVault.map { KeptVault(path: $0.path, objects: $0.objects, retainedUntil: $0.until) })))
            return
        }
        Terminal.output(report.stopped.isEmpty
            ? "no server of \(directory.path) was running"
            : "stopped \(report.stopped.count) server(s): \(report.stopped.map { "\($0.server) (pid \($0.pid))" }.joined(separator: ", "))")
        if let purged = report.purged { Terminal.output("purged \(purged) and its server data") }
        if let kept = report.keptVault {
            Terminal.output("kept the vault \(kept.path): \(kept.objects) object(s) retained until \(Date(timeIntervalSince1970: Double(kept.until)).formatted(.iso8601)) (write once: nothing deletes them earlier)")
        }
    }

    struct Document: Encodable {
        let version: Int
        let state: String
        let stopped: [Stopped]
        let purged: Bool
        /// Present when the purge kept a vault whose objects are still retained.
        let keptVault: KeptVault?

        enum CodingKeys: String, CodingKey { case version, state, stopped, purged, keptVault = "kept_vault" }
    }

    struct KeptVault: Encodable {
        let path: String
        let objects: Int
        let retainedUntil: Int64
        enum CodingKeys: String, CodingKey { case path, objects, retainedUntil = "retained_until" }
    }

    struct Stopped: Encodable {
        let server: String
        let pid: Int32
    }
}
