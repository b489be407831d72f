import ResidencyCore
import Testing

@Suite struct UptimeTests {
    @Test(arguments: [("2026-01", 31), ("2026-02", 28), ("2024-02", 29), ("2000-02", 29), ("2100-02", 28), ("2026-04", 30), ("2026-12", 31)])
    func monthsHaveTheirLength(month: String, days: Int) {
        #expect(CalendarMonth(parsing: month)?.days == days)
        #expect(CalendarMonth(parsing: month)?.minutes == days * 1440)
    }

    @Test func theMonthOfAnInstantIsItsUTCCalendarMonth() {
        let march = CalendarMonth(parsing: "2024-03")!
        #expect(march.startUnixMilliseconds == 1_709_251_200_000)  // 2024-03-01T00:00:00Z
        #expect(CalendarMonth(containing: march.startUnixMilliseconds) == march)
        #expect(CalendarMonth(containing: march.startUnixMilliseconds - 1) == CalendarMonth(parsing: "2024-02"))
        #expect(CalendarMonth(containing: march.endUnixMilliseconds - 1) == march)
        #expect(CalendarMonth(containing: 0) == CalendarMonth(parsing: "1970-01"))
    }

    @Test func samplesOnBothSidesOfAMonthBoundaryCountInTheirOwnMonths() {
        let march = CalendarMonth(parsing: "2024-03")!
        let lastFebruaryMinute = march.startUnixMilliseconds / 60_000 - 1
        let samples = [
            MinuteSample(minute: lastFebruaryMinute, requests: 10, failures: 10),
            MinuteSample(minute: lastFebruaryMinute + 1, requests: 10, failures: 10),
            MinuteSample(minute: lastFebruaryMinute + 2, requests: 10, failures: 0),
        ]
        let tier = Tier(id: "premium", uptimeTargetPercent: 99.9, creditBands: [CreditBand(uptimeBelowPercent: 99.9, creditPercent: 10)])
        let inMarch = SLAResult(tenant: "acme", product: "jira", month: march, samples: samples, tier: tier)
        let inFebruary = SLAResult(tenant: "acme", product: "jira", month: CalendarMonth(parsing: "2024-02")!, samples: samples, tier: tier)
        #expect(inMarch.downtimeMinutes == 1)
        #expect(inFebruary.downtimeMinutes == 1)
        #expect(inFebruary.uptimePercent == 100 * (1 - 1.0 / Double(29 * 1440)))
    }

    @Test func tierAndCreditBandDecideMetAndCredit() {
        let month = CalendarMonth(parsing: "2026-11")!  // 43 200 minutes
        let tier = Tier(id: "premium", uptimeTargetPercent: 99.9, creditBands: [
            CreditBand(uptimeBelowPercent: 99.9, creditPercent: 10), CreditBand(uptimeBelowPercent: 99.0, creditPercent: 25),
        ])
        let minute = month.startUnixMilliseconds / 60_000
        func result(downtime: Int) -> SLAResult {
            SLAResult(tenant: "t", product: "jira", month: month,
                      samples: (0..<downtime).map { MinuteSample(minute: minute + Int64($0), requests: 1, failures: 1) }, tier: tier)
        }
        #expect(result(downtime: 43).met)  // 99.90046 %
        #expect(result(downtime: 43).creditPercent == 0)
        #expect(!result(downtime: 44).met)
        #expect(result(downtime: 44).creditPercent == 10)
        #expect(result(downtime: 433).creditPercent == 25)  // 98.998 %
    }

    @Test(arguments: ["2026-13", "2026-1", "26-01", "2026/01", "", "abcd-ef"])
    func malformedMonthsAreRefused(_ text: String) {
        #expect(CalendarMonth(parsing: text) == nil)
    }
}
