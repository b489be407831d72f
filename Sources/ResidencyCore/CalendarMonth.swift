/// A calendar month in UTC, the period SLA uptime is computed over.
public struct CalendarMonth: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let year: Int
    /// 1...12
    public let month: Int

    public init?(year: Int, month: Int) {
        guard (1...12).contains(month), (1970...9999).contains(year) else { return nil }
        self.year = year
        self.month = month
    }

    /// Parses `YYYY-MM`.
    public init?(parsing text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 4, parts[1].count == 2, let year = Int(parts[0]), let month = Int(parts[1]) else {
            return nil
        }
        self.init(year: year, month: month)
    }

    /// The month holding the instant `unixMilliseconds` after 1970-01-01T00:00:00Z.
    public init(containing unixMilliseconds: Int64) {
        let days = Int(unixMilliseconds >= 0 ? unixMilliseconds / 86_400_000 : (unixMilliseconds - 86_399_999) / 86_400_000)
        let (year, month, _) = Self.civil(fromDays: days)
        self.year = year
        self.month = month
    }

    public var description: String { "\(year)-\(month < 10 ? "0" : "")\(month)" }

    public static func < (lhs: Self, rhs: Self) -> Bool { (lhs.year, lhs.month) < (rhs.year, rhs.month) }

    public var isLeapYear: Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }

    public var days: Int {
        switch month {
        case 2: isLeapYear ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    public var minutes: Int { days * 24 * 60 }

    /// The first millisecond of the month.
    public var startUnixMilliseconds: Int64 { Int64(Self.days(fromCivil: year, month, 1)) * 86_400_000 }

    /// The first millisecond after the month.
    public var endUnixMilliseconds: Int64 { startUnixMilliseconds + Int64(minutes) * 60_000 }

    /// Milliseconds since 1970-01-01T00:00Z of a UTC date and time; `nil` when a field is out of range.
    public static func unixMilliseconds(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, millisecond: Int = 0) -> Int64? {
        guard let calendarMonth = CalendarMonth(year: year, month: month), (1...calendarMonth.days).contains(day),
              (0...23).contains(hour), (0...59).contains(minute), (0...60).contains(second), (0...999).contains(millisecond) else { return nil }
        let days = Int64(Self.days(fromCivil: year, month, day))
        return ((days * 24 + Int64(hour)) * 60 + Int64(minute)) * 60_000 + Int64(second) * 1000 + Int64(millisecond)
    }

    /// Parses ISO 8601 UTC timestamps: `2026-11-03T10:15Z`, `2026-11-03T10:15:30Z`,
    /// `2026-11-03T10:15:30.250Z`, with `Z` or `+00:00`; returns ms since 1970.
    public static func parseISO8601(_ text: String) -> Int64? {
        var body = Substring(text)
        if body.hasSuffix("Z") { body = body.dropLast() } else if body.hasSuffix("+00:00") { body = body.dropLast(6) } else { return nil }
        let halves = body.split(separator: "T", omittingEmptySubsequences: false)
        guard halves.count == 2 else { return nil }
        let date = halves[0].split(separator: "-", omittingEmptySubsequences: false)
        let time = halves[1].split(separator: ":", omittingEmptySubsequences: false)
        guard date.count == 3, date[0].count == 4, date[1].count == 2, date[2].count == 2, (2...3).contains(time.count),
              time[0].count == 2, time[1].count == 2,
              let year = Int(date[0]), let month = Int(date[1]), let day = Int(date[2]), let hour = Int(time[0]), let minute = Int(time[1])
        else { return nil }
        var second = 0
        var millisecond = 0
        if time.count == 3 {
            let parts = time[2].split(separator: ".", omittingEmptySubsequences: false)
            guard parts[0].count == 2, let whole = Int(parts[0]), parts.count <= 2 else { return nil }
            second = whole
            if parts.count == 2 {
                guard (1...9).contains(parts[1].count), parts[1].allSatisfy(\.isNumber), let fraction = Int(parts[1].prefix(3).padding(toLength: 3)) else { return nil }
                millisecond = fraction
            }
        }
        return unixMilliseconds(year: year, month: month, day: day, hour: hour, minute: minute, second: second, millisecond: millisecond)
    }

    // Howard Hinnant's algorithms between civil dates and days since 1970-01-01.

    static func days(fromCivil year: Int, _ month: Int, _ day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func civil(fromDays days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

extension Substring {
    /// Right-pads with zeros to `length` (for fractions of a second).
    func padding(toLength length: Int) -> String {
        String(self) + String(repeating: "0", count: Swift.max(0, length - count))
    }
}
