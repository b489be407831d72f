import ResidencyCore

/// `residency move plan | list | status` and the end of `move start`.
public enum MoveReport {
    public static func planText(_ plan: MovePlan) -> String {
        var lines = ["move plan: tenant \(plan.tenant), realm \(plan.fromRealm) -> \(plan.toRealm)"]
        if plan.pinOnly {
            lines.append("  shard \(plan.fromShard) (\(plan.fromRegion)) already lies in realm \(plan.toRealm): only the pin changes, no data moves")
        } else {
            lines.append("  from shard \(plan.fromShard) (\(plan.fromRegion)) to shard \(plan.toShard) (\(plan.toRegion))")
        }
        var table = TextTable(header: ["DATASET", "KIND", "ROWS", "SIZE", "STATUS"])
        for item in plan.items {
            table.append([item.dataset.name, item.dataset.kind.rawValue, String(item.rows), bytes(item.bytes), status(item, plan: plan)])
        }
        lines.append(table.render(indent: "  "))
        if !plan.pinOnly {
            lines.append("  to copy: \(plan.movingRows) rows, \(bytes(plan.movingBytes))")
            lines.append("  estimated copy: \(seconds(plan.estimatedCopyMilliseconds)) at \(bytes(plan.throughputBytesPerSecond))/s (\(plan.throughputSource))")
            lines.append("  estimated write freeze: \(plan.estimatedFreezeMilliseconds) ms (\(plan.freezeSource))")
        }
        lines.append("  steps:")
        lines += plan.steps.enumerated().map { "    \($0.offset + 1). \($0.element)" }
        return lines.joined(separator: "\n")
    }

    static func status(_ item: MovePlan.Item, plan: MovePlan) -> String {
        switch item.decision {
        case .notEligible: "not eligible, stays in \(item.region)"
        case .nothingToMove: plan.pinOnly ? "stays (pin only)" : "nothing to move"
        case .moves: plan.pinOnly ? "stays (pin only)" : "moves to \(plan.toRegion)"
        }
    }

    public static func planJSON(_ plan: MovePlan) -> String {
        JSONDocument.render(PlanDocument(version: JSONDocument.version, plan: plan), snakeCase: true)
    }

    public static func listText(_ moves: [Move]) -> String {
        guard !moves.isEmpty else { return "no moves (plan one with `residency move plan --tenant T --to REALM`)" }
        var table = TextTable(header: ["ID", "TENANT", "FROM", "TO", "PHASE", "WINDOW", "COPIED", "FREEZE", "RETAINED UNTIL", "UPDATED"])
        for move in moves {
            table.append([
                String(move.id), move.tenant.rawValue, "\(move.plan.fromShard) (\(move.plan.fromRealm))",
                "\(move.plan.toShard) (\(move.plan.toRealm))", move.plan.pinOnly ? "pin-only" : move.phase.rawValue,
                move.window?.description ?? "-",
                move.plan.pinOnly ? "-" : "\(move.percentCopied)%", move.freezeMilliseconds.map { "\($0) ms" } ?? "-",
                move.phase == .retained ? move.retainUntil ?? "-" : "-", move.updatedAt,
            ])
        }
        return table.render()
    }

    public static func listJSON(_ moves: [Move]) -> String {
        JSONDocument.render(ListDocument(version: JSONDocument.version, moves: moves.map(MoveDocument.init)), snakeCase: true)
    }

    public static func statusText(_ move: Move) -> String {
        let plan = move.plan
        var lines = [
            "move \(move.id): tenant \(plan.tenant), \(plan.fromShard) (\(plan.fromRealm)) -> \(plan.toShard) (\(plan.toRealm))",
            "  phase:    \(plan.pinOnly ? "pin-only (ended)" : move.phase.rawValue)",
        ]
        if let window = move.window {
            lines.append("  window:   \(window) (until \(MoveWindow.iso8601(window.endMilliseconds)); rolls back by itself if it cannot switch by then)")
        }
        if !plan.pinOnly {
            lines.append("  copied:   \(move.percentCopied)% of \(plan.movingRows) rows (\(bytes(plan.movingBytes)))")
            if let lag = move.lagBytes {
                var trend = "  lag:      \(bytes(lag))"
                if let written = move.writtenBytesPerSecond, let applied = move.appliedBytesPerSecond {
                    trend += "; the source writes \(bytes(written * 60))/min, the target applies \(bytes(applied * 60))/min"
                    trend += applied > written ? " (shrinking)" : " (not shrinking)"
                }
                lines.append(trend)
            }
            if let eta = eta(move) {
                lines.append("  ETA:      \(seconds(eta)) to the end of the " + (move.phase <= .copying ? "copy (at the planned throughput)" : "catch-up (at the current rates)"))
            }
            if move.phase == .catchingUp, let limit = move.catchUpLimitMilliseconds {
                lines.append("  limit:    catch-up rolls back after \(seconds(limit))")
            }
            if let copy = move.copyMilliseconds, copy > 0, let copied = move.copyBytes {
                lines.append("  copy:     \(seconds(copy)), \(bytes(copied * 1000 / max(copy, 1)))/s")
            }
            if let freeze = move.freezeMilliseconds { lines.append("  freeze:   writes frozen \(freeze) ms") }
            if !move.verification.isEmpty { lines.append("  verified: \(move.verification)") }
            if let switched = move.switchedAt { lines.append("  switched: \(switched)") }
            if move.phase == .retained, let until = move.retainUntil {
                lines.append("  source copy on \(plan.fromShard) frozen, deleted after \(until) (`residency move purge \(move.id)` deletes it now)")
            }
            if move.phase < .switched || move.phase == .rollingBack { lines.append("  next:     \(move.phase.nextStep)") }
        }
        if !move.reason.isEmpty { lines.append("  reason:   \(move.reason)") }
        lines.append("  started:  \(move.createdAt), updated \(move.updatedAt)")
        return lines.joined(separator: "\n")
    }

    public static func statusJSON(_ move: Move) -> String {
        JSONDocument.render(StatusDocument(version: JSONDocument.version, move: MoveDocument(move)), snakeCase: true)
    }

    /// Milliseconds left of the copy at the plan's throughput, or of the catch-up at its
    /// measured rates; `nil` outside both (or while the target does not gain).
    static func eta(_ move: Move) -> Int64? {
        if move.phase == .catchingUp || move.phase == .preVerified { return move.etaMilliseconds }
        guard move.phase <= .copying, move.plan.movingRows > 0 else { return nil }
        let left = 100 - Int64(move.percentCopied)
        return move.plan.estimatedCopyMilliseconds * left / 100
    }

    struct PlanDocument: Encodable {
        let version: Int
        let plan: MovePlan
    }

    struct ListDocument: Encodable {
        let version: Int
        let moves: [MoveDocument]
    }

    struct StatusDocument: Encodable {
        let version: Int
        let move: MoveDocument
    }

    struct MoveDocument: Encodable {
        let id: Int64
        let tenant: String
        let phase: String
        let pinOnly: Bool
        let fromShard: String
        let fromRealm: String
        let toShard: String
        let toRealm: String
        let percentCopied: Int
        let copiedRows: Int64
        let plannedRows: Int64
        let lagBytes: Int64?
        /// Catch-up's rates: WAL written on the source and applied by the target, per second.
        let writtenBytesPerSecond: Int64?
        let appliedBytesPerSecond: Int64?
        let catchUpLimitMilliseconds: Int64?
        let etaMilliseconds: Int64?
        let copyMilliseconds: Int64?
        let copyBytes: Int64?
        let freezeMilliseconds: Int64?
        let verification: String
        let reason: String
        let createdAt: String
        let updatedAt: String
        let switchedAt: String?
        let retainUntil: String?
        let windowStart: String?
        let windowEnd: String?
        let plan: MovePlan

        init(_ move: Move) {
            id = move.id
            tenant = move.tenant.rawValue
            phase = move.phase.rawValue
            pinOnly = move.plan.pinOnly
            fromShard = move.plan.fromShard.rawValue
            fromRealm = move.plan.fromRealm.rawValue
            toShard = move.plan.toShard.rawValue
            toRealm = move.plan.toRealm.rawValue
            percentCopied = move.percentCopied
            copiedRows = move.copiedRows
            plannedRows = move.plan.movingRows
            lagBytes = move.lagBytes
            writtenBytesPerSecond = move.writtenBytesPerSecond
            appliedBytesPerSecond = move.appliedBytesPerSecond
            catchUpLimitMilliseconds = move.catchUpLimitMilliseconds
            etaMilliseconds = MoveReport.eta(move)
            copyMilliseconds = move.copyMilliseconds
            copyBytes = move.copyBytes
            freezeMilliseconds = move.freezeMilliseconds
            verification = move.verification
            reason = move.reason
            createdAt = move.createdAt
            updatedAt = move.updatedAt
            switchedAt = move.switchedAt
            retainUntil = move.retainUntil
            windowStart = move.window.map { MoveWindow.iso8601($0.startMilliseconds) }
            windowEnd = move.window.map { MoveWindow.iso8601($0.endMilliseconds) }
            plan = move.plan
        }
    }

    /// `1.2 MB`, decimal units.
    public static func bytes(_ value: Int64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB"]
        var amount = Double(value)
        var unit = 0
        while amount >= 1000 && unit < units.count - 1 {
            amount /= 1000
            unit += 1
        }
        return unit == 0 ? "\(value) B" : "\((amount * 10).rounded() / 10) \(units[unit])"
    }

    static func seconds(_ milliseconds: Int64) -> String {
        milliseconds < 1000 ? "\(milliseconds) ms" : "\(Double(milliseconds / 100) / 10) s"
    }
}
