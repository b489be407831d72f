import ResidencyConfig
import ResidencyCore
import Testing

@Suite struct MonitoringExportTests {
    @Test func bucketsSamplesByMinuteAndKey() throws {
        let text = """
            timestamp,tenant,product,requests,failures
            2026-11-03T10:15:00Z,acme,jira,100,1
            2026-11-03T10:15:30.5Z,acme,jira,100,9
            2026-11-03T10:16:00+00:00,acme,confluence,10,0
            """
        let samples = try MonitoringExport.csv(text, file: "m.csv")
        let minute = CalendarMonth.parseISO8601("2026-11-03T10:15Z")! / 60_000
        #expect(samples[MonitoringExport.Key(tenant: "acme", product: "jira")] == [MinuteSample(minute: minute, requests: 200, failures: 10)])
        #expect(samples[MonitoringExport.Key(tenant: "acme", product: "confluence")]?.first?.minute == minute + 1)
    }

    @Test func everyMalformedRowIsReportedWithItsLine() {
        let text = """
            timestamp,tenant,product,requests,failures
            2026-11-03T10:15:00Z,acme,jira,100,1
            2026-11-31T10:15:00Z,acme,jira,100,1
            2026-11-03T10:16:00Z,acme,jira,ten,1
            2026-11-03T10:17:00Z,acme,jira,10,11
            2026-11-03T10:18:00Z,acme,jira
            """
        #expect {
            try MonitoringExport.csv(text, file: "m.csv")
        } throws: { error in
            let problems = (error as? ConfigErrors)?.problems.map(\.description) ?? []
            return problems == [
                "m.csv:3:1: timestamp '2026-11-31T10:15:00Z' is not ISO 8601 UTC (like 2026-11-03T10:15:00Z)",
                "m.csv:4:32: requests 'ten' is not a whole number >= 0",
                "m.csv:5:35: failures '11' must be a whole number from 0 to requests (10)",
                "m.csv:6:1: expected 5 fields (timestamp,tenant,product,requests,failures), found 3",
            ]
        }
    }

    @Test func aMissingHeaderIsRefused() {
        #expect(throws: ConfigErrors.self) { try MonitoringExport.csv("2026-11-03T10:15:00Z,acme,jira,1,0\n", file: "m.csv") }
    }

    @Test(arguments: ["2026-11-03T10:15Z", "2026-11-03T10:15:00Z", "2026-11-03T10:15:00.000Z", "2026-11-03T10:15:00+00:00"])
    func parsesISO8601UTC(_ text: String) {
        #expect(CalendarMonth.parseISO8601(text) == 1_793_700_900_000)  // date -u -d 2026-11-03T10:15:00Z +%s
    }

    @Test(arguments: ["2026-11-03 10:15:00Z", "2026-11-03T10:15:00", "2026-11-03T10:15:00+01:00", "2026-02-29T00:00Z", "2026-11-03T24:00Z"])
    func refusesOtherTimestamps(_ text: String) {
        #expect(CalendarMonth.parseISO8601(text) == nil)
    }
}
