import ResidencyCore
import Testing

@Suite struct MoveWindowTests {
    let december1 = CalendarMonth.parseISO8601("2026-12-01T02:00:00Z")!

    @Test(arguments: [
        ("2026-12-01T02:00Z/PT2H", 7_200_000),
        ("2026-12-01T02:00:00Z/PT90M", 5_400_000),
        ("2026-12-01T02:00Z/P1DT6H", 108_000_000),
        ("2026-12-01T02:00Z/PT45S", 45_000),
        ("2026-12-01T02:00Z/P2D", 172_800_000),
    ] as [(String, Int64)])
    func parsesAStartInUTCAndADuration(text: String, milliseconds: Int64) throws {
        let window = try MoveWindow.parse(text)
        #expect(window.startMilliseconds == december1)
        #expect(window.durationMilliseconds == milliseconds)
        #expect(try MoveWindow.parse(window.description) == window, "prints what it parses")
    }

    @Test(arguments: [
        "2026-12-01T02:00Z", "2026-12-01T02:00/PT2H", "2026-12-01 02:00Z/PT2H", "2026-13-01T02:00Z/PT2H",
        "2026-12-01T02:00Z/2H", "2026-12-01T02:00Z/PT", "2026-12-01T02:00Z/P2H", "2026-12-01T02:00Z/PT0S",
        "2026-12-01T02:00Z/PT2H/PT1H", "2026-12-01T02:00Z/PT-2H", "2026-12-01T02:00+02:00/PT2H",
    ])
    func refusesMalformedWindowsSayingWhy(text: String) {
        #expect(throws: MoveWindow.Problem.self) { try MoveWindow.parse(text) }
        do {
            _ = try MoveWindow.parse(text)
        } catch {
            #expect(error.description.contains(text))
            #expect(error.description.contains("START/DURATION"))
        }
    }

    @Test func refusesAWindowThatIsOverOrTooShortOrOverlapsAnotherMoveOfTheTenant() throws {
        let window = try MoveWindow.parse("2026-12-01T02:00Z/PT2H")
        let justBefore = december1 - 1
        #expect(throws: MoveWindow.Problem.inThePast(window, nowMilliseconds: window.endMilliseconds)) {
            try window.check(nowMilliseconds: window.endMilliseconds, estimateMilliseconds: 0, others: [])
        }
        #expect(throws: MoveWindow.Problem.shorterThanEstimate(window, estimateMilliseconds: 7_200_001)) {
            try window.check(nowMilliseconds: justBefore, estimateMilliseconds: 7_200_001, others: [])
        }
        let other = try MoveWindow.parse("2026-12-01T03:59Z/PT1H")
        #expect(throws: MoveWindow.Problem.overlaps(window, move: 7, other: other)) {
            try window.check(nowMilliseconds: justBefore, estimateMilliseconds: 0, others: [(7, other)])
        }
        let adjacent = try MoveWindow.parse("2026-12-01T04:00Z/PT1H")
        try window.check(nowMilliseconds: justBefore, estimateMilliseconds: 7_200_000, others: [(7, adjacent)])
        // A window that has opened but not ended may still be taken.
        try window.check(nowMilliseconds: december1 + 60_000, estimateMilliseconds: 0, others: [])
    }

    @Test func printsUTCTimesAndDurations() {
        #expect(MoveWindow.iso8601(0) == "1970-01-01T00:00:00Z")
        #expect(MoveWindow.iso8601(december1) == "2026-12-01T02:00:00Z")
        #expect(MoveWindow.duration(5_400_000) == "PT1H30M")
        #expect(MoveWindow.duration(108_000_000) == "P1DT6H")
    }
}
