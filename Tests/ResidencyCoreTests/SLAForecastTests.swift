import Foundation
import ResidencyCore
import Testing

/// The pieces `simulate sla` is built from: the logarithm and exponential draws Core makes
/// without Foundation, outages turned into downtime minutes, and the forecast.
@Suite struct SLAForecastTests {
    @Test func theLogarithmIsAccurate() {
        for x in [1e-300, 1e-9, 0.001, 0.5, 0.999_999, 1, 1.5, 2, 2.718_281_828_459_045, 10, 12_345.678, 1e300] {
            let expected = Foundation.log(x)
            #expect(abs(x.logNatural - expected) <= 1e-12 * max(1, abs(expected)), "ln \(x): \(x.logNatural) against \(expected)")
        }
        #expect(0.0.logNatural == -.infinity)
    }

    @Test func exponentialDrawsHaveTheirMean() {
        var random = SeededRandom(seed: 42)
        let draws = (0..<200_000).map { _ in random.exponential(mean: 60) }
        let mean = draws.reduce(0, +) / Double(draws.count)
        #expect(abs(mean - 60) < 0.6, "mean \(mean)")
        #expect(draws.allSatisfy { $0 >= 0 })
        // P(X > mean) = 1/e.
        let above = Double(draws.filter { $0 > 60 }.count) / Double(draws.count)
        #expect(abs(above - 0.367_879) < 0.005, "\(above)")
    }

    @Test func outagesBecomeDowntimeMinutesByTheFivePercentRule() {
        let january = CalendarMonth(year: 2027, month: 1)!
        let february = CalendarMonth(year: 2027, month: 2)!
        let start = january.startUnixMilliseconds
        let minute: Int64 = 60_000
        let outages: [(from: Int64, to: Int64)] = [
            (start, start + 3_000),                               // 3 s of one minute: 5 %, not more: no downtime
            (start + minute, start + minute + 3_001),             // just over 5 %: one minute
            (start + 10 * minute + 30_000, start + 12 * minute + 30_000),  // two minutes, over three: 3
            (february.startUnixMilliseconds - 1_000, february.startUnixMilliseconds + 4_000),  // 1 s in January, 4 s in February
        ]
        #expect(Uptime.downtimeMinutes(outages: outages, months: [january, february]) == [4, 1])
        #expect(Uptime.downtimeMinutes(outages: [], months: [january]) == [0])
    }

    @Test func theForecastCountsMonthsBelowEachTarget() {
        let premium = Tier(id: "premium", uptimeTargetPercent: 99.9, creditBands: [.init(uptimeBelowPercent: 99.9, creditPercent: 10)])
        let month = 43_200
        // 1,000 months: 990 clean, 9 with 30 minutes (99.93 %), 1 with 60 (99.86 %: below 99.9).
        let samples = Array(repeating: (0, month), count: 990) + Array(repeating: (30, month), count: 9) + [(60, month)]
        let forecast = SLAForecast(samples: samples.map { (downtimeMinutes: $0.0, monthMinutes: $0.1) }, serviceLevels: ServiceLevels(tiers: [premium]))
        #expect(forecast.shardMonths == 1_000)
        #expect(forecast.monthsWithDowntime == 10)
        #expect(forecast.uptimeP50Percent == 100)
        #expect(abs(forecast.uptimeP1Percent - (100 - 3_000.0 / 43_200)) < 1e-9, "the 10th worst month has 30 minutes")
        #expect(abs(forecast.uptimeWorstPercent - (100 - 6_000.0 / 43_200)) < 1e-9)
        let tier = forecast.tiers[0]
        #expect(tier.monthsBelowTarget == 1)
        #expect(tier.probabilityBelowTarget == 0.001)
        #expect(abs(tier.expectedCreditPercent - 0.01) < 1e-12, "10 % credit in one month of 1,000")
        #expect(abs(tier.allowedMinutesIn30Days - 43.2) < 1e-9)
        #expect(forecast.histogram.map(\.shardMonths) == [990, 0, 0, 0, 9, 1, 0, 0])
        #expect(forecast.histogram.map(\.label).prefix(3) == ["0 min", "1-4 min", "5-9 min"])
    }
}
