import ArgumentParser
import Foundation
import Logging
import ResidencyCore

@main
struct Residency: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "residency",
        abstract: "Keeps multi-tenant PostgreSQL data in its residency realm, replicated across zones, and available.",
        discussion: """
            Quick start (local mode, every server on 127.0.0.1):
              residency validate              check regions/
              residency up --demo             create and start regions/ with demo tenants
              residency status                roles, replication state and lag
              residency tenant create acme --realm eu --demo-rows 100
              residency zone stop eu-central-a   lose a zone: the coordinator fails over
              residency zone start eu-central-a  bring it back: nodes rejoin as standbys
              residency events                what the coordinator did, step by step
              residency move start --tenant demo-global --to eu   move its data to eu
              residency report residency      where every copy of every tenant's rows lives
              residency down [--purge]        stop every server [and delete the data]

            Exit codes: 0 done, every check held; 1 a check did not hold (unhealthy); \
            2 could not do it (a server unreachable, a step failed); 64 wrong command line; \
            65 invalid input (a topology file, a tenant name), with file:line:col where there is a file.
            """,
        subcommands: [
            ValidateCommand.self, DrillCommand.self, UpCommand.self, StatusCommand.self, DownCommand.self, TenantCommand.self, CoordinatorCommand.self,
            ZoneCommand.self, SwitchoverCommand.self, RebalanceCommand.self, FailoverCommand.self, EventsCommand.self, ConninfoCommand.self, MoveCommand.self, ReportCommand.self,
            SimulateCommand.self, ChaosCommand.self, BackupCommand.self, WALPushCommand.self, WALFetchCommand.self, WALPrefetchCommand.self,
        ]
    )

    /// The one place that bootstraps logging and turns errors into exit codes.
    static func main() {
        // A child that exits early (tar, pg_basebackup) must not kill the tool mid-write: the
        // write fails with EPIPE and the error says which program stopped.
        signal(SIGPIPE, SIG_IGN)
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = ProcessInfo.processInfo.environment["RESIDENCY_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
            return handler
        }
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let failure as Failure {
            Terminal.error(failure.message)
            Foundation.exit(failure.exitCode)
        } catch {
            if let failure = Failure(error) {
                Terminal.error(failure.message)
                Foundation.exit(failure.exitCode)
            }
            // Argument parser's own messages quote what was typed: escaped like everything else.
            let code = exitCode(for: error)
            let message = Printable.escaped(fullMessage(for: error))
            if code == .success {
                print(message)
            } else {
                FileHandle.standardError.write(Data((message + "\n").utf8))
            }
            Foundation.exit(code.rawValue)
        }
    }
}
