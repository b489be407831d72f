/// The SLA maths: which minutes are downtime, and what they do to a month's uptime.
public enum Uptime {
    /// A minute is a downtime minute when more than this share of its requests failed.
    public static let downtimeFailurePercent = 5.0

    /// More than 5 % of the minute's requests failed (unknown outcomes count as failed);
    /// a minute without requests is not downtime.
    public static func isDowntime(requests: Int, failures: Int) -> Bool {
        requests > 0 && Double(failures) * 100 > downtimeFailurePercent * Double(requests)
    }

    /// 100 % x (1 - downtime minutes / minutes in the UTC calendar month).
    public static func monthlyPercent(downtimeMinutes: Int, in month: CalendarMonth) -> Double {
        100 * (1 - Double(downtimeMinutes) / Double(month.minutes))
    }
}

/// Requests and failures of one tenant (and product) in one UTC minute.
public struct MinuteSample: Hashable, Sendable {
    /// Minutes since 1970-01-01T00:00Z.
    public let minute: Int64
    public var requests: Int
    public var failures: Int

    public init(minute: Int64, requests: Int, failures: Int) {
        self.minute = minute
        self.requests = requests
        self.failures = failures
    }

    public var isDowntime: Bool { Uptime.isDowntime(requests: requests, failures: failures) }
    public var month: CalendarMonth { CalendarMonth(containing: minute * 60_000) }
}

/// One tenant's (and product's) compliance in one month.
public struct SLAResult: Hashable, Sendable {
    public let tenant: String
    public let product: String
    public let month: CalendarMonth
    public let downtimeMinutes: Int
    public let uptimePercent: Double
    public let tier: TierID
    public let targetPercent: Double
    public let met: Bool
    public let creditPercent: Double

    /// Judges `samples` (of any months; only those of `month` count) against `tier`.
    public init(tenant: String, product: String, month: CalendarMonth, samples: [MinuteSample], tier: Tier) {
        self.init(tenant: tenant, product: product, month: month,
                  downtimeMinutes: samples.filter { $0.month == month && $0.isDowntime }.count, tier: tier)
    }

    /// Judges `downtimeMinutes` of `month` (at most the month's minutes) against `tier`.
    public init(tenant: String, product: String, month: CalendarMonth, downtimeMinutes: Int, tier: Tier) {
        precondition((0...month.minutes).contains(downtimeMinutes), "\(downtimeMinutes) downtime minutes in \(month)")
        self.tenant = tenant
        self.product = product
        self.month = month
        self.downtimeMinutes = downtimeMinutes
        uptimePercent = Uptime.monthlyPercent(downtimeMinutes: downtimeMinutes, in: month)
        self.tier = tier.id
        targetPercent = tier.uptimeTargetPercent
        met = uptimePercent >= tier.uptimeTargetPercent
        creditPercent = tier.creditPercent(forUptime: uptimePercent)
    }
}

extension Uptime {
    /// Downtime minutes in each of `months` of a service unavailable during `outages`
    /// (milliseconds since 1970, from inclusive, to exclusive), its requests spread evenly
    /// over time: a minute is downtime when more than 5 % of it was unavailable (the rule of
    /// `isDowntime`, with one request per millisecond).
    public static func downtimeMinutes(outages: [(from: Int64, to: Int64)], months: [CalendarMonth]) -> [Int] {
        var unavailable: [Int64: Int] = [:]
        for outage in outages where outage.to > outage.from {
            var at = outage.from
            while at < outage.to {
                let minute = at / 60_000
                let end = min(outage.to, (minute + 1) * 60_000)
                unavailable[minute, default: 0] += Int(end - at)
                at = end
            }
        }
        var result = Array(repeating: 0, count: months.count)
        for (minute, milliseconds) in unavailable where isDowntime(requests: 60_000, failures: milliseconds) {
            let month = CalendarMonth(containing: minute * 60_000)
            if let index = months.firstIndex(of: month) { result[index] += 1 }
        }
        return result
    }
}
