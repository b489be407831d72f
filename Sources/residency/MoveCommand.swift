import ArgumentParser
import Foundation
import ResidencyCore
import ResidencyReport
import ResidencyRuntime

struct MoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "move",
        abstract: "Plan and run residency moves: a tenant's data to a shard of another realm, verified, reversible until the switch.",
        discussion: """
            A move copies every residency-eligible dataset of the tenant (its products and eligible apps) from a logical slot's snapshot in binary COPY format, streams later changes (row filter on the tenant; applied without waiting for a standby, and the switch waits until a standby of the target holds everything applied), hashes every row on both sides while writers keep writing, freezes the tenant's writes on the source (tens of milliseconds), verifies the rows changed since, switches the catalogue entry, and keeps the frozen source copy for the retention period. Apps that are not residency-eligible stay where they are.

              move plan --tenant acme --to eu      what would move, how long, which steps
              move start --tenant acme --to eu     run it now, with progress
              move schedule --tenant acme --to eu --window 2026-12-01T02:00Z/PT2H
                                                   the coordinator runs it in that window
              move status 3                        phase, percent copied, lag, ETA
              move rollback 3                      undo it (any time before the switch)
              move purge 3                         delete the retained source copy now

            A move goes on by itself: a step that fails before the switch rolls it back (after waiting up to 15 s for a failover to explain it), a step after the switch is retried against the shards' current primaries until it is done, and a move whose process died (a killed `move start`, a crashed coordinator) is adopted by the leading coordinator within seconds.
            """,
        subcommands: [Plan.self, Start.self, Schedule.self, Cancel.self, List.self, Status.self, Rollback.self, Purge.self, Resume.self])

    struct MoveIDArgument: ParsableArguments {
        @Argument(help: "The move's id (see residency move list).")
        var id: Int64
    }

    struct RetentionOption: ParsableArguments {
        @Option(name: .customLong("retention-days"), help: "Days the frozen source copy is kept before it is deleted (0-3650).")
        var retentionDays: Int = 7

        /// The days; outside 0-3650 an invalid-input failure (exit 65) naming the value.
        func days() throws -> Int {
            guard (0...3650).contains(retentionDays) else {
                throw Failure(message: "--retention-days must be from 0 to 3650, not \(retentionDays)", exitCode: Failure.invalidInput)
            }
            return retentionDays
        }
    }

    struct CatchUpLimitOption: ParsableArguments {
        @Option(name: .customLong("catch-up-limit"),
                help: ArgumentHelp("How long catch-up may take before the move rolls back and says why, with the written and applied rates (PT10M, 90s, 10m, 2h).", valueName: "duration"))
        var catchUpLimit: String = "PT10M"

        /// The limit; malformed or not positive is an invalid-input failure (exit 65) naming the value.
        func limit() throws -> Duration {
            guard let limit = MoveSettings.parseLimit(catchUpLimit) else {
                throw Failure(message: "--catch-up-limit must be a positive duration (PT10M, 90s, 10m, 2h), not '\(catchUpLimit)'", exitCode: Failure.invalidInput)
            }
            return limit
        }
    }

    struct Target: ParsableArguments {
        @Option(help: "The tenant to move.")
        var tenant: String
        @Option(help: "The realm to pin the tenant to and move its data into.")
        var to: String
        @Option(help: "A region of that realm to move to (default: the least-loaded shard of the realm).")
        var region: String?
    }

    struct Plan: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show what a move would do: datasets with rows and sizes, the target shard, estimates, the steps. Changes nothing.")

        @OptionGroup var target: Target
        @OptionGroup var state: StateOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let executor = try MoveExecutor(layout: try state.directory.requireLayout())
            let plan = try executor.plan(tenant: target.tenant, to: target.to, region: target.region)
            Terminal.output(output.json ? MoveReport.planJSON(plan) : MoveReport.planText(plan))
        }
    }

    struct Start: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Plan and run a move now, to the switch and cleanup; progress on a terminal.",
            discussion: """
            Exit 0: switched (the tenant's writes go to the target; the source copy stays frozen until its retention ends). Exit 1: verification found differences and the move rolled back (the source is unfrozen; start it again). Exit 2: the move rolled back (a step failed, a failover of the source, catch-up past its limit: the message says why), or this process lost the control database (the leading coordinator adopts the move within seconds). Exit 65: refused (unknown tenant or realm, no shard there, a move already open, a move that would change nothing).
            """)

        @OptionGroup var target: Target
        @OptionGroup var retention: RetentionOption
        @OptionGroup var catchUp: CatchUpLimitOption
        @OptionGroup var state: StateOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let retentionDays = try retention.days()
            let catchUpLimit = try catchUp.limit()
            let executor = try MoveExecutor(layout: try state.directory.requireLayout(), observe: MoveCommand.progress())
            let plan = try executor.plan(tenant: target.tenant, to: target.to, region: target.region)
            if !output.json { Terminal.progressLine("plan: \(plan.pinOnly ? "pin only, no data moves" : "\(plan.movingRows) rows (\(MoveReport.bytes(plan.movingBytes))) from \(plan.fromShard) to \(plan.toShard)")") }
            let move = try executor.start(plan, retentionDays: retentionDays, catchUpLimit: catchUpLimit)
            try MoveCommand.finish(move, json: output.json)
        }
    }

    struct Schedule: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Schedule a move into a maintenance window; the coordinator starts it when the window opens.",
            discussion: """
            The window is START/DURATION in ISO 8601, UTC: 2026-12-01T02:00Z/PT2H (PT90M, P1DT6H ...). A move that cannot switch before its window ends rolls back by itself (the event log says why). Refused with exit 65: a window that is over, one shorter than the plan's estimate, a tenant that already has an open or scheduled move. `move cancel ID` cancels it before its window opens. Needs a running coordinator (`residency up` starts one).
            """)

        @OptionGroup var target: Target
        @Option(help: ArgumentHelp("START/DURATION, UTC: 2026-12-01T02:00Z/PT2H.", valueName: "window"))
        var window: String
        @OptionGroup var retention: RetentionOption
        @OptionGroup var catchUp: CatchUpLimitOption
        @OptionGroup var state: StateOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let retentionDays = try retention.days()
            let catchUpLimit = try catchUp.limit()
            let parsed: MoveWindow
            do {
                parsed = try MoveWindow.parse(window)
            } catch {
                throw Failure(message: error.description, exitCode: Failure.invalidInput)
            }
            let executor = try MoveExecutor(layout: try state.directory.requireLayout())
            let plan = try executor.plan(tenant: target.tenant, to: target.to, region: target.region)
            let move = try executor.schedule(plan, window: parsed, retentionDays: retentionDays, catchUpLimit: catchUpLimit)
            Terminal.output(output.json ? MoveReport.statusJSON(move) : MoveReport.statusText(move))
        }
    }

    struct Cancel: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cancel a scheduled move before its window opens (a running move is refused: use rollback).")

        @OptionGroup var move: MoveIDArgument
        @OptionGroup var state: StateOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let cancelled = try MoveExecutor(layout: try state.directory.requireLayout()).cancel(move.id)
            Terminal.output(output.json ? MoveReport.statusJSON(cancelled) : MoveReport.statusText(cancelled))
        }
    }

    struct Resume: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Continue a move whose process died from its journaled phase now (the leading coordinator also adopts it within seconds).")

        @OptionGroup var move: MoveIDArgument
        @OptionGroup var state: StateOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let executor = try MoveExecutor(layout: try state.directory.requireLayout(), observe: MoveCommand.progress())
            try MoveCommand.finish(try executor.execute(move.id), json: output.json)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every move with its phase, progress, write freeze and retention.")

        @OptionGroup var state: StateOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let moves = try ControlStore(layout: try state.directory.requireLayout()).moves()
            Terminal.output(output.json ? MoveReport.listJSON(moves) : MoveReport.listText(moves))
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One move: phase, percent copied, lag, ETA, verification, freeze, retention.")

        @OptionGroup var move: MoveIDArgument
        @OptionGroup var state: StateOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            guard let found = try ControlStore(layout: try state.directory.requireLayout()).move(move.id) else {
                throw Failure(message: "unknown move \(move.id) (see residency move list)", exitCode: Failure.invalidInput)
            }
            Terminal.output(output.json ? MoveReport.statusJSON(found) : MoveReport.statusText(found))
        }
    }

    struct Rollback: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Undo a move before its switch: replication objects and the target's rows go, the source is unfrozen.",
            discussion: "When another process runs the move, it is asked to roll back and this waits for it. Refused (exit 65) once the move has switched.")

        @OptionGroup var move: MoveIDArgument
        @OptionGroup var state: StateOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let executor = try MoveExecutor(layout: try state.directory.requireLayout(), observe: MoveCommand.progress())
            let ended = try executor.rollback(move.id, reason: "requested by an operator")
            Terminal.output(output.json ? MoveReport.statusJSON(ended) : MoveReport.statusText(ended))
            if ended.phase != .rolledBack { throw ExitCode(Failure.unavailable) }
        }
    }

    struct Purge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete the frozen source copy a switched move retains, now instead of after its retention.")

        @OptionGroup var move: MoveIDArgument
        @OptionGroup var state: StateOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let purged = try MoveExecutor(layout: try state.directory.requireLayout()).purge(move.id)
            Terminal.output(output.json ? MoveReport.statusJSON(purged) : MoveReport.statusText(purged))
        }
    }

    /// Prints the move's end and turns a rollback into its exit code.
    static func finish(_ move: Move, json: Bool) throws {
        Terminal.output(json ? MoveReport.statusJSON(move) : MoveReport.statusText(move))
        if move.phase == .rolledBack {
            throw ExitCode(move.verification.hasPrefix("differences") ? Failure.checkFailed : Failure.unavailable)
        }
    }

    /// Progress lines on a terminal (nothing otherwise).
    static func progress() -> (MoveExecutor.Event) -> Void {
        let line = Terminal.progress()
        return { event in
            switch event {
            case let .phase(move):
                line("move \(move.id): \(move.phase.rawValue)" + (move.reason.isEmpty || move.phase != .rollingBack ? "" : " (\(move.reason))"))
            case let .copying(copied, planned, lag):
                let percent = planned > 0 ? min(100, copied * 100 / planned) : 100
                line("copying: \(percent)% (\(copied) of \(planned) rows)" + (lag.map { ", lag \(MoveReport.bytes($0))" } ?? ""))
            case let .catchingUp(roundTrip, trend):
                line("catching up: marker round trip \(roundTrip.inMilliseconds) ms" + (trend.summary.isEmpty ? "" : ", \(trend.summary)"))
            case let .note(text):
                line(text)
            }
        }
    }
}
