/// What many simulated months say about a contract: the distribution of monthly uptime of
/// a shard (every tenant on it, every product: their data lives on the same shard), and per
/// tier the probability that a month misses the target and the service credit to expect.
public struct SLAForecast: Hashable, Sendable, Codable {
    public struct TierOutlook: Hashable, Sendable, Codable {
        public let tier: TierID
        public let targetPercent: Double
        /// Downtime minutes a 30-day month may hold and still meet the target.
        public let allowedMinutesIn30Days: Double
        public let monthsBelowTarget: Int
        public let probabilityBelowTarget: Double
        /// Mean credit over all months, in percent of the monthly fee.
        public let expectedCreditPercent: Double
    }

    /// Shard-months with downtime minutes in `fromMinutes...toMinutes` (`nil`: no upper bound).
    public struct Bin: Hashable, Sendable, Codable {
        public let fromMinutes: Int
        public let toMinutes: Int?
        public let shardMonths: Int

        public var label: String {
            guard let toMinutes else { return "> \(fromMinutes - 1) min" }
            return fromMinutes == toMinutes ? "\(fromMinutes) min" : "\(fromMinutes)-\(toMinutes) min"
        }
    }

    public let shardMonths: Int
    public let uptimeP50Percent: Double
    public let uptimeP1Percent: Double
    public let uptimeWorstPercent: Double
    public let meanDowntimeMinutes: Double
    public let monthsWithDowntime: Int
    public let tiers: [TierOutlook]
    public let histogram: [Bin]

    /// Bin edges (downtime minutes) of the histogram: each bin starts at one.
    public static let binStarts = [0, 1, 5, 10, 22, 44, 120, 480]

    /// `samples`: the downtime minutes of each shard-month and the month's length in minutes.
    public init(samples: [(downtimeMinutes: Int, monthMinutes: Int)], serviceLevels: ServiceLevels) {
        shardMonths = samples.count
        let uptimes = samples.map { 100 * (1 - Double($0.downtimeMinutes) / Double(max(1, $0.monthMinutes))) }.sorted()
        // Lower percentiles: p1 is the uptime that 1 % of months fall below (nearest rank).
        func percentile(_ p: Double) -> Double {
            guard !uptimes.isEmpty else { return 100 }
            return uptimes[min(uptimes.count - 1, max(0, Int((p / 100 * Double(uptimes.count)).rounded(.up)) - 1))]
        }
        uptimeP50Percent = percentile(50)
        uptimeP1Percent = percentile(1)
        uptimeWorstPercent = uptimes.first ?? 100
        meanDowntimeMinutes = samples.isEmpty ? 0 : Double(samples.reduce(0) { $0 + $1.downtimeMinutes }) / Double(samples.count)
        monthsWithDowntime = samples.filter { $0.downtimeMinutes > 0 }.count
        tiers = serviceLevels.tiers.map { tier in
            let below = uptimes.filter { $0 < tier.uptimeTargetPercent }.count
            let credit = uptimes.reduce(0.0) { $0 + tier.creditPercent(forUptime: $1) }
            return TierOutlook(
                tier: tier.id, targetPercent: tier.uptimeTargetPercent,
                allowedMinutesIn30Days: (100 - tier.uptimeTargetPercent) / 100 * 43_200,
                monthsBelowTarget: below,
                probabilityBelowTarget: uptimes.isEmpty ? 0 : Double(below) / Double(uptimes.count),
                expectedCreditPercent: uptimes.isEmpty ? 0 : credit / Double(uptimes.count))
        }
        let starts = Self.binStarts
        histogram = starts.indices.map { index in
            let from = starts[index]
            let to = index + 1 < starts.count ? starts[index + 1] - 1 : nil
            let count = samples.filter { sample in sample.downtimeMinutes >= from && sample.downtimeMinutes <= (to ?? .max) }.count
            return Bin(fromMinutes: from, toMinutes: to, shardMonths: count)
        }
    }
}
