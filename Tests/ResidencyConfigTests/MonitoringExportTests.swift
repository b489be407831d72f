import Foundation
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

    // Regression tests of defects a fuzzer found (issue 13).

    func problems(_ body: () throws -> Any) -> [String] {
        do {
            _ = try body()
            Issue.record("accepted, but it should have been refused")
            return []
        } catch {
            return (error as? ConfigErrors)?.problems.map(\.description) ?? ["\(error)"]
        }
    }

    @Test func requestsAddingUpPastIntMaxInOneMinuteAreRefusedNotATrap() {
        let text = "timestamp,tenant,product,requests,failures\n2026-11-03T10:15:00Z,a,jira,9223372036854775807,0\n2026-11-03T10:15:30Z,a,jira,1,0\n"
        #expect(problems { try MonitoringExport.csv(text, file: "m.csv") } == ["m.csv:3:29: the requests of a/jira in this minute add up past 9223372036854775807"])
        let huge = "timestamp,tenant,product,requests,failures\n2026-11-03T10:15:00Z,a,jira,99999999999999999999,0\n"
        #expect(problems { try MonitoringExport.csv(huge, file: "m.csv") }.first?.contains("is not a whole number >= 0") == true)
    }

    @Test func aByteOrderMarkAndCRLFLineEndsAreAccepted() throws {
        let text = "\u{FEFF}timestamp,tenant,product,requests,failures\r\n2026-11-03T10:15:00Z,acme,jira,100,10\r\n"
        let samples = try MonitoringExport.csv(text, file: "m.csv")
        #expect(samples[MonitoringExport.Key(tenant: "acme", product: "jira")]?.first?.failures == 10)
    }

    @Test(arguments: ["2026-+1", "+202-11", "2026-1", "2026-11-", "２０２６-11", "2026-13", "0000-01"])
    func aMonthIsDigitsOnly(_ text: String) {
        #expect(CalendarMonth(parsing: text) == nil)
    }

    @Test(arguments: ["2026-11-+3T+1:+5Z", "2026-11-03T10:15:0Z", "2026-11-03T1:15Z", "2026-11-03T10:15:00.Z", "2026-11-03T10:15:00.12a Z",
                      "2026-11-03T10:15:61Z", " 2026-11-03T10:15Z", "2026-11-03T10:15:00+00:0"])
    func aTimestampIsDigitsOfExactWidthOnly(_ text: String) {
        #expect(CalendarMonth.parseISO8601(text) == nil)
    }

    @Test func aLeapSecondStaysInItsMinuteAndMonth() throws {
        let leap = try #require(CalendarMonth.parseISO8601("2026-11-30T23:59:60Z"))
        #expect(leap / 60_000 == CalendarMonth.parseISO8601("2026-11-30T23:59Z")! / 60_000)
        #expect(CalendarMonth(containing: leap) == CalendarMonth(year: 2026, month: 11))
    }

    @Test func aDrillResultIsCheckedLikeACSV() {
        func document(_ minutes: String) -> Data { Data("{\"version\": 1, \"minutes\": [\(minutes)]}".utf8) }
        for (minutes, fragment) in [
            ("{\"tenant\": \"a\", \"minute\": 9223372036854775807, \"requests\": 1, \"failures\": 0}", "is outside 1970-9999"),
            ("{\"tenant\": \"a\", \"minute\": -9223372036854775807, \"requests\": 1, \"failures\": 0}", "is outside 1970-9999"),
            ("{\"tenant\": \"a\", \"minute\": 29000000, \"requests\": -5, \"failures\": 0}", "requests -5 is below 0"),
            ("{\"tenant\": \"a\", \"minute\": 29000000, \"requests\": 5, \"failures\": 9}", "failures 9 must be from 0 to requests (5)"),
            ("{\"tenant\": \"a\", \"minute\": 29000000, \"requests\": 5, \"failures\": 0}, {\"tenant\": \"a\", \"minute\": 29000000, \"requests\": 5, \"failures\": 0}", "appears twice"),
        ] {
            let found = problems { try MonitoringExport.drillResult(document(minutes), file: "d.json", month: nil) }
            #expect(found.count == 1 && found[0].contains(fragment), "\(found)")
        }
    }

    @Test func onlyTheMonthAskedForIsKeptAndATenantWithoutMinutesThereIsStillListed() throws {
        let text = "timestamp,tenant,product,requests,failures\n2026-10-31T23:59:00Z,old,jira,10,10\n2026-11-01T00:00:00Z,new,jira,10,0\n"
        let samples = try MonitoringExport.csv(text, file: "m.csv", month: CalendarMonth(year: 2026, month: 11))
        #expect(samples[MonitoringExport.Key(tenant: "old", product: "jira")] == [])
        #expect(samples[MonitoringExport.Key(tenant: "new", product: "jira")]?.count == 1)
    }

    @Test func aFileOfBadRowsListsTheFirstFiftyAndCountsTheRest() {
        let text = "timestamp,tenant,product,requests,failures\n" + String(repeating: "x,a,jira,1,0\n", count: 80)
        let found = problems { try MonitoringExport.csv(text, file: "m.csv") }
        #expect(found.count == 51)
        #expect(found.last == "m.csv:81:1: and 30 more bad row(s) not listed")
    }

    @Test func aStreamedFileGivesTheSameDowntimeAsTheSamplesAlsoOnceAKeyHoldsMostOfTheMonth() throws {
        // 20,000 minutes of one key (past a quarter of November: its minutes move to an
        // array), every 7th minute down, rows split in two halves, written out of order.
        var lines = ["timestamp,tenant,product,requests,failures"]
        let start = CalendarMonth(year: 2026, month: 11)!.startUnixMilliseconds / 1000
        for minute in stride(from: 19_999, through: 0, by: -1) {
            let failures = minute % 7 == 0 ? 10 : 0
            for half in 0..<2 {
                let stamp = start + Int64(minute * 60 + half * 30)
                let date = Date(timeIntervalSince1970: TimeInterval(stamp))
                lines.append("\(ISO8601DateFormatter().string(from: date)),busy,jira,50,\(failures / 2 + half * (failures % 2))")
            }
        }
        lines.append("2026-12-01T00:00:00Z,busy,jira,1,1")
        lines.append("2026-11-02T00:00:00Z,quiet,jira,10,10")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("residency-month-\(UInt64.random(in: 0...UInt64.max)).csv").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try (lines.joined(separator: "\r\n") + "\r\n").write(toFile: file, atomically: true, encoding: .utf8)
        let november = CalendarMonth(year: 2026, month: 11)!
        let downtime = try MonitoringExport.downtimeMinutes(file: file, month: november)
        #expect(downtime[MonitoringExport.Key(tenant: "busy", product: "jira")] == (0..<20_000).filter { $0 % 7 == 0 }.count)
        #expect(downtime[MonitoringExport.Key(tenant: "quiet", product: "jira")] == 1)
        let samples = try MonitoringExport.csv(String(contentsOfFile: file, encoding: .utf8), file: file)
        #expect(samples[MonitoringExport.Key(tenant: "busy", product: "jira")]?.filter { $0.month == november && $0.isDowntime }.count
            == downtime[MonitoringExport.Key(tenant: "busy", product: "jira")])
        #expect(try MonitoringExport.load(file: file, month: november)[MonitoringExport.Key(tenant: "busy", product: "jira")]?.count == 20_000)
    }
}
