import ArgumentParser
import ResidencyCore
import ResidencyReport
import ResidencyRuntime

struct EventsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "The event log: what happened, to which shard, at which epoch, from and to which node, how long it took.")

    @Option(help: "How many of the latest events.")
    var limit: Int = 200
    @OptionGroup var state: StateOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let layout = try state.directory.requireLayout()
        let events = try ControlStore(layout: layout).events(limit: limit)
        if output.json {
            struct Entry: Encodable {
                let id: Int64, at: String, kind: String, shard: String?, epoch: Int64?, from: String?, to: String?, durationMs: Int64?, detail: String
                enum CodingKeys: String, CodingKey { case id, at, kind, shard, epoch, from, to, detail, durationMs = "duration_ms" }
            }
            struct Document: Encodable { let version: Int; let events: [Entry] }
            Terminal.output(JSONDocument.render(Document(version: JSONDocument.version, events: events.map {
                Entry(id: $0.id, at: $0.at, kind: $0.kind, shard: $0.shard, epoch: $0.epoch, from: $0.from, to: $0.to,
                      durationMs: $0.durationMilliseconds, detail: $0.detail)
            })))
            return
        }
        var table = TextTable(header: ["AT", "KIND", "SHARD", "EPOCH", "FROM", "TO", "MS", "DETAIL"])
        for event in events {
            table.append([event.at, event.kind, event.shard ?? "-", event.epoch.map(String.init) ?? "-", event.from ?? "-",
                          event.to ?? "-", event.durationMilliseconds.map(String.init) ?? "-", event.detail])
        }
        Terminal.output(table.render())
    }
}
