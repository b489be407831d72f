/// A maintenance window for a scheduled move: a start in UTC and a length, written as ISO
/// 8601 `START/DURATION` (`2026-12-01T02:00Z/PT2H`). The move starts when the window opens
/// and must switch before it ends, or it rolls back by itself.
public struct MoveWindow: Hashable, Sendable, Codable, CustomStringConvertible {
    /// Milliseconds since 1970, UTC.
    public let startMilliseconds: Int64
    public let durationMilliseconds: Int64

    public init(startMilliseconds: Int64, durationMilliseconds: Int64) {
        precondition(durationMilliseconds > 0, "a window has a length")
        self.startMilliseconds = startMilliseconds
        self.durationMilliseconds = durationMilliseconds
    }

    public var endMilliseconds: Int64 { startMilliseconds + durationMilliseconds }

    public enum Problem: Error, Hashable, Sendable, CustomStringConvertible {
        case malformed(String, reason: String)
        case inThePast(MoveWindow, nowMilliseconds: Int64)
        case shorterThanEstimate(MoveWindow, estimateMilliseconds: Int64)
        case overlaps(MoveWindow, move: Int64, other: MoveWindow)

        public var description: String {
            switch self {
            case let .malformed(text, reason):
                "invalid window '\(text)': \(reason); use START/DURATION in UTC, like 2026-12-01T02:00Z/PT2H"
            case let .inThePast(window, now):
                "window \(window) ends before now (\(MoveWindow.iso8601(now))): pick a window in the future"
            case let .shorterThanEstimate(window, estimate):
                "window \(window) is shorter than the move's estimate (\(MoveWindow.duration(estimate)), from `move plan`): give it more time"
            case let .overlaps(window, move, other):
                "window \(window) overlaps move \(move) of the same tenant (window \(other))"
            }
        }
    }

    /// Parses `START/DURATION`: START is `YYYY-MM-DDTHH:MM[:SS]Z`, DURATION is `PnDTnHnMnS`
    /// (any part may be left out, at least one given; whole numbers).
    public static func parse(_ text: String) throws(Problem) -> MoveWindow {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw .malformed(text, reason: "expected START/DURATION") }
        guard let start = CalendarMonth.parseISO8601(String(parts[0])) else {
            throw .malformed(text, reason: "the start '\(parts[0])' is not an ISO 8601 UTC time (YYYY-MM-DDTHH:MMZ)")
        }
        guard let duration = parseDuration(String(parts[1])) else {
            throw .malformed(text, reason: "the duration '\(parts[1])' is not an ISO 8601 duration (PT2H, PT90M, P1DT6H)")
        }
        guard duration > 0 else { throw .malformed(text, reason: "the duration is zero") }
        return MoveWindow(startMilliseconds: start, durationMilliseconds: duration)
    }

    /// `PnDTnHnMnS` in milliseconds; `nil` when malformed.
    public static func parseDuration(_ text: String) -> Int64? {
        guard text.first == "P", text.count > 1 else { return nil }
        var total: Int64 = 0
        var number = ""
        var inTime = false
        var sawUnit = false
        for character in text.dropFirst() {
            if character.isNumber, character.isASCII {
                number.append(character)
                continue
            }
            if character == "T" {
                guard !inTime, number.isEmpty else { return nil }
                inTime = true
                continue
            }
            guard let value = Int64(number), value <= 1_000_000 else { return nil }
            let unit: Int64
            switch (character, inTime) {
            case ("D", false): unit = 86_400_000
            case ("H", true): unit = 3_600_000
            case ("M", true): unit = 60_000
            case ("S", true): unit = 1000
            default: return nil
            }
            total += value * unit
            number = ""
            sawUnit = true
        }
        return sawUnit && number.isEmpty ? total : nil
    }

    /// Refuses a window for a new move: over before `now`, shorter than the plan's
    /// estimate, or overlapping a window of another move of the same tenant.
    public func check(nowMilliseconds: Int64, estimateMilliseconds: Int64, others: [(move: Int64, window: MoveWindow)]) throws(Problem) {
        guard endMilliseconds > nowMilliseconds else { throw .inThePast(self, nowMilliseconds: nowMilliseconds) }
        guard durationMilliseconds >= estimateMilliseconds else { throw .shorterThanEstimate(self, estimateMilliseconds: estimateMilliseconds) }
        if let clash = others.first(where: { $0.window.startMilliseconds < endMilliseconds && startMilliseconds < $0.window.endMilliseconds }) {
            throw .overlaps(self, move: clash.move, other: clash.window)
        }
    }

    public var description: String { "\(Self.iso8601(startMilliseconds))/\(Self.duration(durationMilliseconds))" }

    /// `2026-12-01T02:00:00Z`.
    public static func iso8601(_ milliseconds: Int64) -> String {
        let days = Int(milliseconds.floorDivided(by: 86_400_000))
        let rest = milliseconds - Int64(days) * 86_400_000
        let (year, month, day) = CalendarMonth.civil(fromDays: days)
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let date = "\(year)-\(two(Int64(month)))-\(two(Int64(day)))"
        return "\(date)T\(two(rest / 3_600_000)):\(two(rest / 60_000 % 60)):\(two(rest / 1000 % 60))Z"
    }

    /// `PT2H`, `PT1H30M`, `P1DT6H`, `PT45S`.
    public static func duration(_ milliseconds: Int64) -> String {
        var seconds = (milliseconds + 999) / 1000
        let days = seconds / 86_400
        seconds %= 86_400
        var text = "P" + (days > 0 ? "\(days)D" : "")
        if seconds > 0 || days == 0 {
            text += "T"
            if seconds / 3600 > 0 { text += "\(seconds / 3600)H" }
            if seconds / 60 % 60 > 0 { text += "\(seconds / 60 % 60)M" }
            if seconds % 60 > 0 || seconds == 0 { text += "\(seconds % 60)S" }
        }
        return text
    }
}

extension Int64 {
    func floorDivided(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }
}
