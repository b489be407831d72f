import ResidencyCore
import Testing

@Suite struct TierTests {
    let premium = Tier(id: "premium", uptimeTargetPercent: 99.9, creditBands: [
        CreditBand(uptimeBelowPercent: 95.0, creditPercent: 50),
        CreditBand(uptimeBelowPercent: 99.9, creditPercent: 10),
        CreditBand(uptimeBelowPercent: 99.0, creditPercent: 25),
    ])

    @Test(arguments: [(100.0, 0.0), (99.9, 0.0), (99.89, 10.0), (99.0, 10.0), (98.99, 25.0), (95.0, 25.0), (94.0, 50.0)])
    func theLowestBandBelowTheUptimeGivesTheCredit(uptime: Double, credit: Double) {
        #expect(premium.creditPercent(forUptime: uptime) == credit)
    }
}
