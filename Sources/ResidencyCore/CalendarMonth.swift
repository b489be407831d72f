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

    /// Parses `YYYY-MM` (ASCII digits only: `2026-+1` is no month).
    public init?(parsing text: String) {
        let bytes = Array(text.utf8)
        guard bytes.count == 7, bytes[4] == UInt8(ascii: "-"), let year = Self.digits(bytes[0..<4]), let month = Self.digits(bytes[5..<7]) else {
            return nil
        }
        self.init(year: year, month: month)
    }

    /// The number written by `bytes` when they are all ASCII digits (at most 18 of them).
    static func digits<C: Collection<UInt8>>(_ bytes: C) -> Int? {
        guard !bytes.isEmpty, bytes.count <= 18 else { return nil }
        var value = 0
        for byte in bytes {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
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
              (0...23).contains(hour), (0...59).contains(minute), (0...59).contains(second), (0...999).contains(millisecond) else { return nil }
        let days = Int64(Self.days(fromCivil: year, month, day))
        return ((days * 24 + Int64(hour)) * 60 + Int64(minute)) * 60_000 + Int64(second) * 1000 + Int64(millisecond)
    }

    /// Parses ISO 8601 UTC timestamps: `2026-11-03T10:15Z`, `2026-11-03T10:15:30Z`,
    /// `2026-11-03T10:15:30.250Z`, with `Z` or `+00:00`; returns ms since 1970. Every field
    /// is ASCII digits of its exact width (`+1` is no hour). A leap second (`:60`) stays in
    /// its minute (as its last millisecond) instead of spilling into the next one.
    public static func parseISO8601(_ text: String) -> Int64? {
        parseISO8601(bytes: Array(text.utf8)[...])
    }

    public static func parseISO8601(bytes: ArraySlice<UInt8>) -> Int64? {
        var body = bytes
        if body.last == UInt8(ascii: "Z") {
            body = body.dropLast()
        } else if body.count > 6, Array(body.suffix(6)) == Array("+00:00".utf8) {
            body = body.dropLast(6)
        } else {
            return nil
        }
        let b = Array(body)
        func at(_ index: Int, _ character: Unicode.Scalar) -> Bool { index < b.count && b[index] == UInt8(ascii: character) }
        guard b.count >= 16, at(4, "-"), at(7, "-"), at(10, "T"), at(13, ":"),
              let year = digits(b[0..<4]), let month = digits(b[5..<7]), let day = digits(b[8..<10]),
              let hour = digits(b[11..<13]), let minute = digits(b[14..<16])
        else { return nil }
        var second = 0
        var millisecond = 0
        if b.count > 16 {
            guard at(16, ":"), b.count >= 19, let whole = digits(b[17..<19]) else { return nil }
            second = whole
            if b.count > 19 {
                let fraction = b[20...]
                guard at(19, "."), (1...9).contains(fraction.count), digits(fraction) != nil else { return nil }
                millisecond = digits(fraction.prefix(3))! * [100, 10, 1][min(fraction.count, 3) - 1]
            }
        }
        var leap = false
        if second == 60 {
            leap = true
            second = 59
        }
        guard let ms = unixMilliseconds(year: year, month: month, day: day, hour: hour, minute: minute, second: second, millisecond: millisecond),
              second <= 59 else { return nil }
        return leap ? ms - Int64(millisecond) + 999 : ms
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


